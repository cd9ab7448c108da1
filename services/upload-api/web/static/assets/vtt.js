// WebVTT thumbnail tracks: cues whose text is an image URL with a media
// fragment "#xywh=x,y,w,h" (a tile of a sprite image).

function parseTime(s) {
  const m = /^(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})$/.exec(s.trim());
  if (!m) return NaN;
  return (Number(m[1] || 0) * 3600) + (Number(m[2]) * 60) + Number(m[3]) + (Number(m[4].padEnd(3, '0')) / 1000);
}

/**
 * parseThumbnailVTT returns the cues [{start, end, url, x, y, w, h}] of
 * text, with each image URL resolved against base. Cues without an
 * "#xywh=" fragment use the whole image (w = h = 0).
 */
export function parseThumbnailVTT(text, base) {
  const cues = [];
  const blocks = text.replace(/\r\n?/g, '\n').split(/\n{2,}/);
  for (const block of blocks) {
    const lines = block.split('\n').filter((l) => l.trim() !== '');
    const i = lines.findIndex((l) => l.includes('-->'));
    if (i < 0 || i + 1 >= lines.length) continue;
    const [a, b] = lines[i].split('-->');
    const start = parseTime(a);
    const end = parseTime(b.trim().split(/\s+/)[0]);
    if (!Number.isFinite(start) || !Number.isFinite(end)) continue;
    const ref = lines[i + 1].trim();
    let url;
    try { url = new URL(ref, base); } catch { continue; }
    let x = 0; let y = 0; let w = 0; let hgt = 0;
    const m = /(?:^|&)xywh=(?:pixel:)?(\d+),(\d+),(\d+),(\d+)/.exec(url.hash.slice(1));
    if (m) [x, y, w, hgt] = m.slice(1).map(Number);
    url.hash = '';
    cues.push({ start, end, url: url.href, x, y, w, h: hgt });
  }
  return cues;
}

/** cueAt is the cue showing time t, or the last one before it. */
export function cueAt(cues, t) {
  let best = null;
  for (const c of cues) {
    if (c.start <= t) best = c;
    if (t < c.end && c.start <= t) return c;
  }
  return best;
}

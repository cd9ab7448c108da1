// DOM helpers: h() builds elements (text is always set as text, never
// parsed as HTML), plus formatters shared by the pages.

/**
 * h(tag, attrs, ...children): attrs sets properties for on* handlers,
 * `class`, `dataset` (object), `hidden`, booleans, else attributes.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** clear removes every child of el. */
export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

let fieldSeq = 0;
/** uid is a unique element id with prefix p. */
export function uid(p) {
  fieldSeq += 1;
  return `${p}-${fieldSeq}`;
}

/** formatDuration: 75.4 -> "1:15", 3725 -> "1:02:05". */
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  const s = Math.round(seconds);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/** formatBytes: 1536 -> "1.5 KiB". */
export function formatBytes(n) {
  if (!Number.isFinite(n) || n < 0) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

/** formatTime: an RFC 3339 time in the user's locale. */
export function formatTime(s) {
  if (!s) return '';
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toLocaleString();
}

/** statusLabel is a status in words for people. */
export const statusLabel = {
  uploaded: 'Processing',
  playable: 'Playable',
  transcoded: 'Transcoded',
  thumbnailed: 'Thumbnails made',
  ready: 'Ready',
  failed: 'Failed',
};

/** failureText is a failed video's reason in words. */
export function failureText(v) {
  const f = v && v.failure;
  return (f && (f.message || f.reason)) || 'Processing failed.';
}

/** titleOf is the title to show for a video view. */
export function titleOf(v) {
  return (v && (v.title || v.filename || v.id)) || 'Untitled';
}

/** durationOf is a view's duration in seconds, or NaN. */
export function durationOf(v) {
  const m = v && v.media;
  if (!m) return NaN;
  const d = m.duration_seconds ?? m.duration ?? m.duration_s;
  return typeof d === 'number' ? d : Number(d);
}

/** progressOf is a processing video's progress as 0..1, or -1 when unknown. */
export function progressOf(v) {
  const p = v && v.progress;
  if (!p) return -1;
  if (p.segments_total > 0) return Math.min(1, p.segments_done / p.segments_total);
  if (p.chunks_total > 0) return Math.min(1, p.chunks_done / p.chunks_total);
  return -1;
}

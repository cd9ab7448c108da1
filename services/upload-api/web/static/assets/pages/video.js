// The video page: player (native HLS when the browser plays it, else the
// MP4 renditions; for an audio asset, media.kind "audio", an <audio>
// player under its waveform, the M4A download), quality picker, scrub bar with sprite previews, the
// metadata form, delete, downloads, and failure with retry. While the
// video is not finished, its per-video event stream keeps the page live.

import { api } from '../api.js';
import { stream } from '../sse.js';
import { parseThumbnailVTT, cueAt } from '../vtt.js';
import { h, clear, formatBytes, formatDuration, formatTime, statusLabel, failureText, titleOf, durationOf, progressOf } from '../dom.js';
import * as notfound from './notfound.js';

export const name = 'video';

const HLS_TYPE = 'application/vnd.apple.mpegurl';
const TERMINAL = new Set(['ready', 'failed']);

// apiURL makes an API URL (hls.master_url, sprite_vtt_url) relative to
// this origin: the app is served by the API, whose links may carry
// api.public_url's origin (a proxy's name for the same server).
function apiURL(u) {
  try {
    const abs = new URL(u, location.href);
    return abs.pathname.startsWith('/v1/') ? abs.pathname + abs.search : abs.href;
  } catch { return u; }
}

function hlsPlayable(video) {
  return video.canPlayType(HLS_TYPE) !== '';
}

// isAudio: v is an audio asset (known once it is ready).
const isAudio = (v) => !!(v.media && v.media.kind === 'audio');

export async function render(root, [id], ctx) {
  const { signal } = ctx;
  let v;
  try {
    v = await api.video(id, { signal });
  } catch (err) {
    if (err.status === 404) {
      document.body.dataset.page = 'notfound';
      return notfound.render(root, [], ctx);
    }
    throw err;
  }
  if (signal.aborted) return;

  const main = h('main', { id: 'video-page', class: 'page stack', dataset: { videoId: v.id, status: v.status } });
  root.append(main);

  // ---- Heading.
  const heading = h('h1', { class: 'video-title' });
  const chip = h('span', { class: 'status-chip' });
  const facts = h('p', { class: 'video-facts hint' });

  // ---- Player.
  const audioAsset = isAudio(v);
  const player = audioAsset ? h('audio', { id: 'player', controls: true, preload: 'metadata' })
    : h('video', { id: 'player', controls: true, preload: 'metadata', playsinline: true });
  const waveform = h('img', { id: 'waveform', class: 'waveform', alt: 'Waveform of the audio', hidden: true });
  const playerBox = h('div', { class: 'player-box' }, waveform, player);
  const quality = h('select', { id: 'quality', name: 'quality' });
  const scrubber = h('input', { id: 'scrubber', type: 'range', min: '0', max: '0', step: '0.1', value: '0', 'aria-valuetext': '0:00' });
  const preview = h('div', { id: 'scrub-preview', class: 'scrub-preview', hidden: true, 'aria-hidden': 'true' },
    h('span', { class: 'scrub-preview-time' }));
  const scrubWrap = h('div', { class: 'scrub-wrap' }, scrubber, preview);
  const controls = h('div', { class: 'player-controls' },
    h('div', { class: 'field field-inline' }, h('label', { for: 'quality' }, 'Quality'), quality),
    h('div', { class: 'field scrub-field' }, h('label', { for: 'scrubber' }, 'Position'), scrubWrap));
  const playerSection = h('section', { class: 'player-section', 'aria-label': 'Player' }, playerBox, controls);

  // ---- Processing / failure.
  const progressBar = h('progress', { id: 'video-progress', max: '100' });
  const progressText = h('p', { id: 'progress-text', role: 'status' });
  const progressSection = h('section', { class: 'card stack processing', 'aria-label': 'Processing' }, progressText, progressBar);
  const failureReason = h('p', { id: 'failure-reason', role: 'alert' });
  const retryBtn = h('button', { type: 'button', id: 'retry' }, 'Retry');
  const retryError = h('p', { class: 'field-error', role: 'alert' });
  const failureSection = h('section', { class: 'card stack failure', 'aria-label': 'Failure' },
    h('h2', {}, 'Processing failed'), failureReason, h('div', {}, retryBtn), retryError);

  // ---- Downloads.
  const downloads = h('ul', { id: 'downloads', class: 'downloads' });
  const downloadsSection = h('section', { class: 'card stack', 'aria-labelledby': 'downloads-h' }, h('h2', { id: 'downloads-h' }, 'Downloads'), downloads);

  // ---- Edit.
  const fTitle = h('input', { id: 'edit-title', name: 'title', type: 'text', required: true, maxlength: '200' });
  const fDesc = h('textarea', { id: 'edit-description', name: 'description', rows: '3', maxlength: '5000' });
  const fTags = h('input', { id: 'edit-tags', name: 'tags', type: 'text', 'aria-describedby': 'edit-tags-hint' });
  const editStatus = h('p', { id: 'edit-status', role: 'status', 'aria-live': 'polite' });
  const saveBtn = h('button', { type: 'submit' }, 'Save');
  const editForm = h('form', { id: 'edit-meta', class: 'card stack', novalidate: true },
    h('h2', {}, 'Details'),
    h('div', { class: 'field' }, h('label', { for: 'edit-title' }, 'Title'), fTitle),
    h('div', { class: 'field' }, h('label', { for: 'edit-description' }, 'Description'), fDesc),
    h('div', { class: 'field' }, h('label', { for: 'edit-tags' }, 'Tags'), fTags, h('p', { id: 'edit-tags-hint', class: 'hint' }, 'Comma separated, e.g. holiday, beach.')),
    h('div', { class: 'form-row' }, saveBtn, editStatus));

  // ---- Delete.
  const delBtn = h('button', { type: 'button', id: 'delete-video', class: 'button-danger' }, 'Delete video');
  const delYes = h('button', { type: 'button', id: 'confirm-delete-yes', class: 'button-danger' }, 'Delete');
  const delNo = h('button', { type: 'button', id: 'confirm-delete-no', class: 'button-secondary' }, 'Cancel');
  const delError = h('p', { class: 'field-error', role: 'alert', id: 'delete-error' });
  const dialog = h('dialog', { id: 'confirm-delete', 'aria-labelledby': 'confirm-delete-h' },
    h('h2', { id: 'confirm-delete-h' }, 'Delete this video?'),
    h('p', {}, 'The video, its renditions and thumbnails are removed for good.'),
    delError,
    h('div', { class: 'form-row' }, delYes, delNo));

  main.append(
    h('div', { class: 'video-head' }, h('p', {}, h('a', { href: '/', class: 'back-link' }, '← Library')), heading, h('div', { class: 'card-row' }, chip), facts),
    failureSection, progressSection, playerSection,
    h('div', { class: 'grid-2 video-side' }, editForm, downloadsSection),
    h('section', { class: 'danger-zone' }, delBtn, dialog));

  // ---- State and rendering.
  let source = ''; // 'auto' or 'mp4:<rendition name>'
  let hlsFailed = false; // the browser said it plays HLS, then could not
  let cues = [];
  let spriteLoaded = '';
  let captions = []; // the video's caption tracks (GET …/captions)

  const sources = () => {
    const out = [];
    if (v.hls && v.hls.master_url && hlsPlayable(player) && !hlsFailed) out.push({ value: 'auto', label: 'Auto', url: apiURL(v.hls.master_url) });
    for (const r of v.renditions || []) out.push({ value: `mp4:${r.name}`, label: r.height && !r.name.includes(`${r.height}`) ? `${r.name} (${r.height}p)` : r.name, url: r.url });
    if (out.length && out[0].value !== 'auto') {
      // No native HLS: Auto is the best MP4 rendition.
      const best = [...(v.renditions || [])].sort((a, b) => (b.height || 0) - (a.height || 0))[0];
      out.unshift({ value: 'auto', label: 'Auto', url: best.url });
    }
    return out;
  };

  const playerNote = h('p', { id: 'player-note', class: 'hint', role: 'status' });
  controls.append(playerNote);
  player.addEventListener('error', () => {
    // canPlayType answers "maybe" for HLS, yet a browser may fail on the
    // stream: Auto falls back to the best MP4 rendition when there is one.
    if (source !== 'auto' || hlsFailed || !(v.hls && player.src.includes('/hls/'))) {
      playerNote.textContent = 'This video cannot be played here. Try another quality or a download.';
      return;
    }
    hlsFailed = true;
    source = '';
    if ((v.renditions || []).length) {
      playerNote.textContent = 'This browser could not play the adaptive stream: playing the best MP4 rendition.';
    } else {
      playerNote.textContent = 'This browser cannot play the stream while the video is processing: it plays here once the video is ready.';
    }
    renderPlayer();
  });

  const setSource = (opt, keepTime) => {
    const t = player.currentTime || 0;
    const wasPlaying = !player.paused;
    // The HLS segments are presigned storage URLs on another origin:
    // Chromium's built-in HLS player fetches them only in CORS mode (the
    // storage answers CORS; S3 needs a bucket CORS rule, see the README).
    // An MP4 plays without CORS, so it is not asked for one.
    if (opt.url.includes('/hls/')) player.crossOrigin = 'anonymous';
    else player.removeAttribute('crossorigin');
    syncTracks(opt.url);
    player.src = opt.url;
    source = opt.value;
    if (keepTime && t > 0) {
      player.addEventListener('loadedmetadata', () => {
        player.currentTime = t;
        if (wasPlaying) player.play().catch(() => {});
      }, { once: true });
    }
  };

  // Caption tracks: the HLS master lists them itself; an MP4 gets one
  // <track kind="subtitles"> per track. Their WebVTT is a presigned
  // storage URL on another origin, which a <track> loads in CORS mode only.
  const syncTracks = (url) => {
    for (const t of player.querySelectorAll('track')) t.remove();
    if (url.includes('/hls/') || !captions.length) return;
    player.crossOrigin = 'anonymous';
    for (const c of captions) player.append(h('track', { kind: 'subtitles', srclang: c.language, label: c.label, src: c.url }));
  };
  api.captions(v.id, { signal }).then((list) => {
    captions = (list && list.captions) || [];
    if (captions.length && source && !player.src.includes('/hls/')) {
      const opt = sources().find((o) => o.value === source);
      if (opt) setSource(opt, true);
    }
  }).catch(() => {});

  const renderPlayer = () => {
    const opts = sources();
    playerSection.hidden = opts.length === 0 && !hlsFailed;
    const selected = quality.value || 'auto';
    clear(quality);
    for (const o of opts) quality.append(h('option', { value: o.value }, o.label));
    if (!opts.length) return;
    const cur = opts.find((o) => o.value === selected) || opts[0];
    quality.value = cur.value;
    if (!source) setSource(cur, false);
    else if (source === 'auto' && cur.value === 'auto' && player.error) setSource(cur, true);
    const dur = durationOf(v);
    if (Number.isFinite(dur) && dur > 0 && !(Number(scrubber.max) > 0)) scrubber.max = String(dur);
    loadSprite();
  };

  const loadSprite = async () => {
    const url = v.thumbnails && v.thumbnails.sprite_vtt_url;
    if (!url || spriteLoaded === url) return;
    spriteLoaded = url;
    try {
      const abs = new URL(apiURL(url), location.href);
      if (abs.origin !== location.origin) return; // only the API's own rewritten VTT
      const resp = await fetch(abs.href, { signal, cache: 'no-store' });
      if (!resp.ok) return;
      cues = parseThumbnailVTT(await resp.text(), abs.href);
    } catch { cues = []; }
  };

  const renderState = () => {
    if (isAudio(v) && !audioAsset) {
      // Became ready as an audio asset while this page showed a video
      // player: render the page again with the audio player.
      ctx.navigate(location.pathname + location.search, { replace: true });
      return;
    }
    main.dataset.status = v.status;
    main.dataset.kind = audioAsset ? 'audio' : 'video';
    const poster = audioAsset && v.thumbnails && v.thumbnails.poster;
    waveform.hidden = !poster;
    if (poster && waveform.getAttribute('src') !== poster.url) waveform.src = poster.url;
    heading.textContent = titleOf(v);
    document.title = `${titleOf(v)} · vidpipe`;
    chip.className = `status-chip status-${v.status}`;
    chip.textContent = v.status;
    chip.title = statusLabel[v.status] || v.status;
    const bits = [];
    const dur = durationOf(v);
    if (Number.isFinite(dur) && dur > 0) bits.push(formatDuration(dur));
    if (v.media && v.media.width) bits.push(`${v.media.width}×${v.media.height}`);
    if (v.size) bits.push(formatBytes(v.size));
    if (v.uploaded_at) bits.push(`uploaded ${formatTime(v.uploaded_at)}`);
    facts.textContent = bits.join(' · ');

    const failed = v.status === 'failed';
    failureSection.hidden = !failed;
    if (failed) failureReason.textContent = failureText(v);
    else retryBtn.disabled = false;

    const processing = !failed && v.status !== 'ready';
    progressSection.hidden = !processing;
    if (processing) {
      const pct = progressOf(v);
      if (pct >= 0) { progressBar.value = Math.round(pct * 100); progressBar.setAttribute('aria-valuetext', `${Math.round(pct * 100)} %`); } else progressBar.removeAttribute('value');
      progressText.textContent = v.hls ? 'Playable now; the other qualities are still being made.'
        : `Processing${pct >= 0 ? `: ${Math.round(pct * 100)} %` : '…'} This page updates by itself.`;
    }

    clear(downloads);
    for (const r of v.renditions || []) {
      downloads.append(h('li', {}, h('a', { href: r.url, download: `${titleOf(v)}-${r.name}.${audioAsset ? 'm4a' : 'mp4'}`, rel: 'noopener' }, `${r.name}${r.height ? ` · ${r.width}×${r.height}` : ''}`),
        r.size ? h('span', { class: 'hint' }, ` ${formatBytes(r.size)}`) : null));
    }
    if (!downloads.children.length) downloads.append(h('li', { class: 'hint' }, 'Downloads appear when the video is ready.'));
    renderPlayer();
  };

  const fillForm = () => {
    fTitle.value = v.title || '';
    fDesc.value = v.description || '';
    fTags.value = (v.tags || []).join(', ');
  };

  // ---- Scrub bar and preview.
  const fmt = (t) => formatDuration(t) || '0:00';
  player.addEventListener('loadedmetadata', () => {
    if (Number.isFinite(player.duration) && player.duration > 0) scrubber.max = String(player.duration);
  });
  player.addEventListener('durationchange', () => {
    if (Number.isFinite(player.duration) && player.duration > 0) scrubber.max = String(player.duration);
  });
  player.addEventListener('timeupdate', () => {
    if (document.activeElement !== scrubber || !scrubber.matches(':active')) {
      scrubber.value = String(player.currentTime);
      scrubber.setAttribute('aria-valuetext', fmt(player.currentTime));
    }
  });
  scrubber.addEventListener('input', () => {
    const t = Number(scrubber.value);
    scrubber.setAttribute('aria-valuetext', fmt(t));
    if (Number.isFinite(t)) player.currentTime = t;
    showPreview(t, null);
  });
  const showPreview = (t, clientX) => {
    const max = Number(scrubber.max);
    if (!(max > 0)) { preview.hidden = true; return; }
    const c = cueAt(cues, t);
    preview.dataset.time = String(Math.floor(t));
    preview.querySelector('.scrub-preview-time').textContent = fmt(t);
    if (c) {
      const w = c.w || 160; const hh = c.h || 90;
      preview.style.backgroundImage = `url("${c.url.replace(/"/g, '%22')}")`;
      preview.style.backgroundPosition = `-${c.x}px -${c.y}px`;
      preview.style.width = `${w}px`;
      preview.style.height = `${hh}px`;
      preview.classList.remove('no-image');
    } else {
      preview.style.backgroundImage = '';
      preview.classList.add('no-image');
    }
    const rect = scrubber.getBoundingClientRect();
    const x = clientX === null ? rect.left + (rect.width * (t / max)) : clientX;
    const pw = preview.offsetWidth || c?.w || 160;
    const left = Math.max(0, Math.min(rect.width - pw, x - rect.left - (pw / 2)));
    preview.style.left = `${left}px`;
    preview.hidden = false;
  };
  const timeAt = (clientX) => {
    const rect = scrubber.getBoundingClientRect();
    const f = rect.width > 0 ? Math.max(0, Math.min(1, (clientX - rect.left) / rect.width)) : 0;
    return f * Number(scrubber.max);
  };
  scrubber.addEventListener('pointermove', (ev) => showPreview(timeAt(ev.clientX), ev.clientX));
  scrubber.addEventListener('pointerenter', (ev) => showPreview(timeAt(ev.clientX), ev.clientX));
  scrubber.addEventListener('pointerleave', () => { if (document.activeElement !== scrubber) preview.hidden = true; });
  scrubber.addEventListener('blur', () => { preview.hidden = true; });
  scrubber.addEventListener('focus', () => {
    if (scrubber.matches(':focus-visible')) showPreview(Number(scrubber.value), null);
  });
  scrubber.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') preview.hidden = true;
  });

  quality.addEventListener('change', () => {
    const opt = sources().find((o) => o.value === quality.value);
    if (opt) setSource(opt, true);
  });

  // ---- Edit.
  editForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    editStatus.textContent = '';
    editStatus.classList.remove('field-error');
    const title = fTitle.value.trim();
    if (!title) {
      editStatus.textContent = 'The title must not be empty.';
      editStatus.classList.add('field-error');
      fTitle.setAttribute('aria-invalid', 'true');
      fTitle.focus();
      return;
    }
    fTitle.removeAttribute('aria-invalid');
    const tags = fTags.value.split(',').map((t) => t.trim()).filter(Boolean);
    saveBtn.disabled = true;
    try {
      const out = await api.patchVideo(v.id, { title, description: fDesc.value.trim(), tags });
      if (out && out.id) { v = { ...v, title: out.title, description: out.description, tags: out.tags }; renderState(); }
      editStatus.textContent = 'Saved';
    } catch (err) {
      editStatus.textContent = err.message;
      editStatus.classList.add('field-error');
    } finally {
      saveBtn.disabled = false;
    }
  });

  // ---- Delete.
  delBtn.addEventListener('click', () => { delError.textContent = ''; dialog.showModal(); delNo.focus(); });
  delNo.addEventListener('click', () => dialog.close());
  delYes.addEventListener('click', async () => {
    delYes.disabled = true;
    delError.textContent = '';
    try {
      await api.deleteVideo(v.id);
      dialog.close();
      ctx.navigate('/');
    } catch (err) {
      delError.textContent = err.message;
    } finally {
      delYes.disabled = false;
    }
  });

  // ---- Live updates while not finished.
  let live = null;
  const follow = () => {
    if (live || TERMINAL.has(v.status)) return;
    live = new AbortController();
    const stop = () => { if (live) { live.abort(); live = null; } };
    signal.addEventListener('abort', stop, { once: true });
    stream(`/v1/videos/${encodeURIComponent(v.id)}/events`, {
      signal: live.signal,
      onEvent: (ev) => {
        if (ev.event !== 'status') return;
        let data;
        try { data = JSON.parse(ev.data); } catch { return; }
        if (!data || data.id !== v.id) return;
        v = data;
        renderState();
        if (TERMINAL.has(v.status)) stop();
      },
      onEnd: (status) => {
        live = null;
        if (status === 404 && !signal.aborted) ctx.navigate('/', { replace: true });
      },
    });
  };

  retryBtn.addEventListener('click', async () => {
    retryBtn.disabled = true;
    retryError.textContent = '';
    try {
      await api.retry(v.id);
      failureReason.textContent = 'Retrying…';
      // The status moves on as the stages pick the video up again.
      setTimeout(async () => {
        try { v = await api.video(v.id, { signal }); renderState(); follow(); } catch { /* the stream or a reload shows it */ }
      }, 1000);
    } catch (err) {
      retryError.textContent = err.message;
      retryBtn.disabled = false;
    }
  });

  fillForm();
  renderState();
  follow();
  ctx.ready();
}

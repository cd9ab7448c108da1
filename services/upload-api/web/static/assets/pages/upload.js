// The upload panel of the library page: choose or drop files, each sent
// over tus (tus.js) one after another, with progress, speed, time left,
// pause, resume and cancel. Uploads live in this module, so they go on
// (and are shown again) when the user visits another page and comes back.

import { h, uid, formatBytes } from '../dom.js';
import { Upload } from '../tus.js';

/** uploads are this tab's uploads, oldest first: {up, row} */
const uploads = [];
let onFinished = () => {};

function nextQueued() {
  if (uploads.some((u) => u.up.state === 'uploading')) return;
  const u = uploads.find((x) => x.up.state === 'queued');
  if (u) u.up.start();
}

function formatEta(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 60) return `${Math.ceil(seconds)} s left`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${Math.round(seconds % 60)} s left`;
  return `${Math.floor(m / 60)} h ${m % 60} min left`;
}

function makeRow(up) {
  const progress = h('progress', { max: '100', value: '0', 'aria-label': `Upload progress of ${up.file.name}` });
  const percent = h('span', { class: 'upload-percent' }, '0 %');
  const speed = h('span', { class: 'upload-speed' });
  const eta = h('span', { class: 'upload-eta' });
  const error = h('p', { class: 'upload-error field-error', role: 'alert' });
  const stateText = h('span', { class: 'upload-state' }, 'Waiting');
  const pause = h('button', { type: 'button', class: 'upload-pause button-secondary' }, 'Pause');
  const resume = h('button', { type: 'button', class: 'upload-resume button-secondary' }, 'Resume');
  const cancel = h('button', { type: 'button', class: 'upload-cancel button-secondary' }, 'Cancel');
  const link = h('a', { class: 'upload-link', hidden: true }, 'Open video');
  pause.setAttribute('aria-label', `Pause ${up.file.name}`);
  resume.setAttribute('aria-label', `Resume ${up.file.name}`);
  cancel.setAttribute('aria-label', `Cancel ${up.file.name}`);
  const li = h('li', { class: 'upload', dataset: { name: up.file.name, state: up.state } },
    h('div', { class: 'upload-head' },
      h('span', { class: 'upload-name' }, up.file.name),
      h('span', { class: 'upload-size' }, formatBytes(up.file.size))),
    progress,
    h('div', { class: 'upload-meta' }, stateText, percent, speed, eta, link),
    h('div', { class: 'upload-actions' }, pause, resume, cancel),
    error);

  const samples = []; // [time ms, bytes]
  const labels = { queued: 'Waiting', uploading: 'Uploading', paused: 'Paused', done: 'Uploaded', failed: 'Failed', cancelled: 'Cancelled' };
  const sync = () => {
    const s = up.state;
    li.dataset.state = s;
    stateText.textContent = labels[s] || s;
    pause.hidden = !(s === 'uploading' || s === 'queued');
    resume.hidden = !(s === 'paused' || s === 'failed');
    cancel.hidden = s === 'done' || s === 'cancelled';
    if (s !== 'uploading') { speed.textContent = ''; eta.textContent = ''; samples.length = 0; }
    if (s !== 'failed') error.textContent = '';
    if (s === 'done') { progress.value = 100; percent.textContent = '100 %'; }
    link.hidden = s !== 'done' || !link.href; // the video exists once the upload is done
  };
  up.cb.onState = (s) => {
    sync();
    if (s === 'done') onFinished(up.videoId);
    if (s !== 'uploading') nextQueued();
  };
  up.cb.onVideoId = (id) => {
    li.dataset.videoId = id;
    link.href = `/videos/${encodeURIComponent(id)}`;
  };
  up.cb.onError = (err) => { error.textContent = err.message; };
  // data-resumed-from: the server's offset the last resume started at.
  up.cb.onResume = (off) => { li.dataset.resumedFrom = String(off); };
  up.cb.onProgress = (sent, total) => {
    const pct = total > 0 ? Math.floor((sent / total) * 100) : 100;
    progress.value = pct;
    percent.textContent = `${pct} %`;
    const now = performance.now();
    samples.push([now, sent]);
    while (samples.length > 2 && now - samples[0][0] > 5000) samples.shift();
    if (samples.length >= 2) {
      const [t0, b0] = samples[0];
      const dt = (now - t0) / 1000;
      if (dt > 0) {
        const rate = (sent - b0) / dt;
        speed.textContent = rate > 0 ? `${formatBytes(rate)}/s` : '';
        eta.textContent = rate > 0 ? formatEta((total - sent) / rate) : '';
      }
    }
  };
  pause.addEventListener('click', () => { up.pause(); resume.focus(); });
  resume.addEventListener('click', () => { error.textContent = ''; up.start(); pause.focus(); });
  cancel.addEventListener('click', () => { up.cancel(); });
  sync();
  return li;
}

/** renderUploads builds the upload panel; finished(videoId) is called per finished upload. */
export function renderUploads(finished) {
  onFinished = finished;
  const titleId = uid('upload-title');
  const list = h('ul', { id: 'uploads', class: 'uploads', 'aria-label': 'Uploads', 'aria-live': 'polite' });
  const fileInput = h('input', { id: 'file-input', type: 'file', multiple: true, accept: 'video/*,audio/*,.mkv,.mov,.mp4,.webm,.avi,.m4a,.mp3,.wav,.flac,.ogg,.opus' });
  const title = h('input', { id: 'upload-title', name: 'title', type: 'text', maxlength: '200', autocomplete: 'off' });
  const description = h('textarea', { id: 'upload-description', name: 'description', rows: '2', maxlength: '5000' });
  const tags = h('input', { id: 'upload-tags', name: 'tags', type: 'text', autocomplete: 'off', placeholder: 'holiday, family' });
  const errorEl = h('p', { id: 'upload-form-error', class: 'field-error', role: 'alert' });

  const add = (files) => {
    errorEl.textContent = '';
    const arr = Array.from(files || []);
    if (!arr.length) return;
    const meta = { title: title.value.trim(), description: description.value.trim(), tags: tags.value.split(',').map((t) => t.trim()).filter(Boolean).join(',') };
    for (const file of arr) {
      if (file.size === 0) {
        errorEl.textContent = `${file.name} is empty: choose a video file.`;
        continue;
      }
      const up = new Upload(file, { ...meta, title: meta.title || file.name });
      const row = makeRow(up);
      uploads.push({ up, row });
      list.prepend(row);
    }
    title.value = '';
    description.value = '';
    tags.value = '';
    nextQueued();
  };

  fileInput.addEventListener('change', () => { add(fileInput.files); fileInput.value = ''; });
  const drop = h('div', { id: 'dropzone', class: 'dropzone', tabindex: '0', role: 'button', 'aria-describedby': 'dropzone-hint' },
    h('strong', {}, 'Drop videos here'),
    h('span', { id: 'dropzone-hint', class: 'hint' }, 'or press Enter to choose files. Large files resume after a reload.'));
  drop.addEventListener('click', () => fileInput.click());
  drop.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); fileInput.click(); }
  });
  for (const t of ['dragenter', 'dragover']) {
    drop.addEventListener(t, (ev) => { ev.preventDefault(); drop.classList.add('dragging'); });
  }
  for (const t of ['dragleave', 'drop']) {
    drop.addEventListener(t, () => drop.classList.remove('dragging'));
  }
  drop.addEventListener('drop', (ev) => { ev.preventDefault(); add(ev.dataTransfer && ev.dataTransfer.files); });

  for (const { row } of uploads) list.prepend(row);

  return h('section', { class: 'card stack upload-panel', 'aria-labelledby': titleId },
    h('h2', { id: titleId }, 'Upload'),
    h('div', { class: 'upload-pick' },
      h('div', { class: 'field' },
        h('label', { for: 'file-input' }, 'Choose video files'),
        fileInput),
      drop),
    h('fieldset', { class: 'upload-details' },
      h('legend', {}, 'Details for the next files (optional)'),
      h('div', { class: 'grid-2' },
        h('div', { class: 'field' }, h('label', { for: 'upload-title' }, 'Title'), title,
          h('p', { class: 'hint' }, 'Defaults to the file name.')),
        h('div', { class: 'field' }, h('label', { for: 'upload-tags' }, 'Tags (comma separated)'), tags)),
      h('div', { class: 'field' }, h('label', { for: 'upload-description' }, 'Description'), description)),
    errorEl,
    list);
}

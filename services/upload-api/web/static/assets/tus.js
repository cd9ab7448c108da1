// A tus 1.0 client (creation, HEAD resume, PATCH chunks, termination)
// for the API's /v1/uploads endpoint. The upload URL is remembered in
// localStorage under the file's fingerprint (name, size, type, last
// modified), so choosing the same file after a reload resumes at the
// server's offset instead of starting again.

import { authHeaders } from './api.js';

const ENDPOINT = '/v1/uploads';
const STORE_PREFIX = 'vidpipe.tus.';
/** CHUNK_SIZE is the size of one PATCH: 8 MiB. */
export const CHUNK_SIZE = 8 << 20;

export function fingerprint(file) {
  return [file.name, file.size, file.type, file.lastModified].join('|');
}

function remembered(fp) {
  try { return localStorage.getItem(STORE_PREFIX + fp) || ''; } catch { return ''; }
}
function remember(fp, url) {
  try {
    if (url) localStorage.setItem(STORE_PREFIX + fp, url);
    else localStorage.removeItem(STORE_PREFIX + fp);
  } catch { /* no storage: the upload is not resumable after a reload */ }
}

// base64 of a UTF-8 string (tus metadata values).
function b64(s) {
  const bytes = new TextEncoder().encode(s);
  let bin = '';
  bytes.forEach((b) => { bin += String.fromCharCode(b); });
  return btoa(bin);
}

/** TusError is a failed tus request, with the API's reason when it gave one. */
export class TusError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'TusError';
    this.status = status;
  }
}

async function reason(resp, what) {
  let msg = '';
  try {
    const data = JSON.parse(await resp.text());
    msg = data && data.error && data.error.message;
  } catch { /* not JSON */ }
  return new TusError(resp.status, msg || `${what} failed: the server answered ${resp.status}`);
}

/**
 * Upload sends one file. Callbacks: onProgress(sent, total),
 * onState(state) with state queued|uploading|paused|done|failed|cancelled,
 * onVideoId(id), onError(err).
 */
export class Upload {
  constructor(file, meta, callbacks = {}) {
    this.file = file;
    this.meta = meta; // {title, description, tags}
    this.cb = callbacks;
    this.fp = fingerprint(file);
    this.url = '';
    this.offset = 0;
    this.state = 'queued';
    this.ctrl = null;
    this.videoId = '';
  }

  setState(s) {
    this.state = s;
    if (this.cb.onState) this.cb.onState(s);
  }

  /** start uploads from where the server is (resuming a remembered upload). */
  async start() {
    if (this.state === 'uploading' || this.state === 'done' || this.state === 'cancelled') return;
    this.ctrl = new AbortController();
    const { signal } = this.ctrl;
    this.setState('uploading');
    try {
      if (!this.url) this.url = remembered(this.fp);
      if (this.url) {
        const off = await this.head(signal);
        if (off < 0) this.url = ''; // gone: start again
        else this.offset = off;
      }
      if (!this.url) await this.create(signal);
      this.setVideoId();
      if (this.cb.onProgress) this.cb.onProgress(this.offset, this.file.size);
      while (this.offset < this.file.size) {
        await this.patch(signal);
      }
      if (this.file.size === 0) await this.patch(signal);
      remember(this.fp, '');
      this.setState('done');
    } catch (err) {
      if (signal.aborted) return; // paused or cancelled: state set there
      if (err instanceof TusError && err.status >= 400 && err.status < 500 && err.status !== 409 && err.status !== 423) {
        remember(this.fp, ''); // the server refused this upload for good
      }
      this.error = err;
      if (this.cb.onError) this.cb.onError(err);
      this.setState('failed');
    }
  }

  setVideoId() {
    const id = this.url.split('/').filter(Boolean).pop() || '';
    if (id && id !== this.videoId) {
      this.videoId = id;
      if (this.cb.onVideoId) this.cb.onVideoId(id);
    }
  }

  /** head returns the server's offset, or -1 when the upload is gone. */
  async head(signal) {
    const resp = await fetch(this.url, { method: 'HEAD', headers: authHeaders({ 'Tus-Resumable': '1.0.0' }), signal, cache: 'no-store' });
    if (resp.status === 404 || resp.status === 410 || resp.status === 403) {
      remember(this.fp, '');
      return -1;
    }
    if (!resp.ok) throw new TusError(resp.status, `Checking the upload failed: the server answered ${resp.status}`);
    const off = Number(resp.headers.get('Upload-Offset'));
    if (!Number.isFinite(off) || off < 0) throw new TusError(resp.status, 'The server did not say how much it has.');
    return off;
  }

  async create(signal) {
    const m = [['filename', this.file.name]];
    if (this.meta.title) m.push(['title', this.meta.title]);
    if (this.meta.description) m.push(['description', this.meta.description]);
    if (this.meta.tags) m.push(['tags', this.meta.tags]);
    const resp = await fetch(ENDPOINT, {
      method: 'POST',
      headers: authHeaders({
        'Tus-Resumable': '1.0.0',
        'Upload-Length': String(this.file.size),
        'Upload-Metadata': m.map(([k, v]) => `${k} ${b64(v)}`).join(','),
      }),
      signal,
    });
    if (resp.status !== 201) throw await reason(resp, 'Starting the upload');
    const loc = resp.headers.get('Location');
    if (!loc) throw new TusError(resp.status, 'The server did not say where to upload.');
    this.url = new URL(loc, location.href).pathname;
    this.offset = 0;
    remember(this.fp, this.url);
  }

  async patch(signal) {
    const end = Math.min(this.offset + CHUNK_SIZE, this.file.size);
    const chunk = this.file.slice(this.offset, end);
    const resp = await fetch(this.url, {
      method: 'PATCH',
      headers: authHeaders({
        'Tus-Resumable': '1.0.0',
        'Upload-Offset': String(this.offset),
        'Content-Type': 'application/offset+octet-stream',
      }),
      body: chunk,
      signal,
    });
    if (resp.status === 409) {
      // Offsets disagree (another tab, or a lost answer): ask the server.
      const off = await this.head(signal);
      if (off < 0) throw new TusError(404, 'The upload is gone from the server; choose the file again.');
      this.offset = off;
      return;
    }
    if (resp.status !== 204) throw await reason(resp, 'Uploading');
    const off = Number(resp.headers.get('Upload-Offset'));
    this.offset = Number.isFinite(off) && off > this.offset ? off : end;
    if (this.cb.onProgress) this.cb.onProgress(this.offset, this.file.size);
  }

  /** pause stops sending; start resumes from the server's offset. */
  pause() {
    if (this.state !== 'uploading' && this.state !== 'queued') return;
    if (this.ctrl) this.ctrl.abort();
    this.setState('paused');
  }

  /** cancel stops sending and removes the partial upload on the server. */
  async cancel() {
    if (this.state === 'done' || this.state === 'cancelled') return;
    if (this.ctrl) this.ctrl.abort();
    this.setState('cancelled');
    const url = this.url || remembered(this.fp);
    remember(this.fp, '');
    if (url) {
      try {
        await fetch(url, { method: 'DELETE', headers: authHeaders({ 'Tus-Resumable': '1.0.0' }) });
      } catch { /* the server's expiry removes it */ }
    }
  }
}

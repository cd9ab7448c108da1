// API client: every call carries the signed-in user's bearer token, kept
// in sessionStorage (this tab only). Errors become ApiError with the
// API's code and message ({"error": {"code", "message"}}).

const TOKEN_KEY = 'vidpipe.token';

export function getToken() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage disabled: the token lives for this page only */ }
}

/** ApiError is an answer of the API that is not a success. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || `request failed (${status})`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code || '';
  }
}

// Listeners told when the API answers 401 (the token is no longer valid).
const unauthorizedListeners = new Set();
export function onUnauthorized(fn) { unauthorizedListeners.add(fn); }

/** authHeaders are the headers of an authenticated request. */
export function authHeaders(extra = {}) {
  const h = { ...extra };
  const t = getToken();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

/**
 * request sends method path with an optional JSON body and returns the
 * decoded JSON answer (null for an empty one). It throws ApiError.
 */
export async function request(method, path, { body, signal, headers, token } = {}) {
  const h = authHeaders(headers);
  if (token) h.Authorization = `Bearer ${token}`;
  const init = { method, headers: h, signal, cache: 'no-store' };
  if (body !== undefined) {
    h['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', 'The server cannot be reached. Check your connection and try again.');
  }
  return decode(resp);
}

/** decode turns a fetch Response into JSON or an ApiError. */
export async function decode(resp) {
  const text = await resp.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!resp.ok) {
    const e = data && data.error;
    const err = new ApiError(resp.status, e && e.code, (e && e.message) || `The server answered ${resp.status}.`);
    if (resp.status === 401) unauthorizedListeners.forEach((fn) => fn(err));
    throw err;
  }
  return data;
}

export const api = {
  me: (opts) => request('GET', '/v1/me', opts),
  videos: ({ q = '', cursor = '', status = '', limit = 20 } = {}, opts) => {
    const p = new URLSearchParams();
    if (q) p.set('q', q);
    if (cursor) p.set('cursor', cursor);
    if (status) p.set('status', status);
    p.set('limit', String(limit));
    return request('GET', `/v1/videos?${p}`, opts);
  },
  video: (id, opts) => request('GET', `/v1/videos/${encodeURIComponent(id)}`, opts),
  captions: (id, opts) => request('GET', `/v1/videos/${encodeURIComponent(id)}/captions`, opts),
  patchVideo: (id, body) => request('PATCH', `/v1/videos/${encodeURIComponent(id)}`, { body }),
  deleteVideo: (id) => request('DELETE', `/v1/videos/${encodeURIComponent(id)}`),
  retry: (id) => request('POST', `/v1/videos/${encodeURIComponent(id)}/retry`),
  usage: () => request('GET', '/v1/usage'),
  webhooks: () => request('GET', '/v1/webhooks'),
  createWebhook: (body) => request('POST', '/v1/webhooks', { body }),
  deleteWebhook: (id) => request('DELETE', `/v1/webhooks/${encodeURIComponent(id)}`),
  enableWebhook: (id) => request('POST', `/v1/webhooks/${encodeURIComponent(id)}/enable`),
  deliveries: (id, limit = 20) => request('GET', `/v1/webhooks/${encodeURIComponent(id)}/deliveries?limit=${limit}`),
  replayWebhook: (id, since) => request('POST', `/v1/webhooks/${encodeURIComponent(id)}/replay`, { body: { since } }),
  stages: () => request('GET', '/v1/admin/stages'),
  deadLetters: (stage = '', limit = 50) => {
    const p = new URLSearchParams({ limit: String(limit) });
    if (stage) p.set('stage', stage);
    return request('GET', `/v1/admin/dead-letters?${p}`);
  },
  redrive: (body) => request('POST', '/v1/admin/dead-letters/redrive', { body }),
};

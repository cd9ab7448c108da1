// The library: the caller's videos (GET /v1/videos, newest first) or a
// search (?q=), kept live by one fetch stream of GET /v1/events, with the
// upload panel above.

import { api } from '../api.js';
import { stream } from '../sse.js';
import { h, clear, formatDuration, statusLabel, failureText, titleOf, durationOf, progressOf } from '../dom.js';
import { renderUploads } from './upload.js';

export const name = 'library';

function posterOf(v) {
  const t = v.thumbnails;
  return t ? ((t.small && t.small.url) || (t.poster && t.poster.url) || '') : '';
}

/** card renders one video as li.video-card. */
export function card(v, onRetry) {
  const li = h('li', { class: 'video-card', dataset: { videoId: v.id, status: v.status } });
  fillCard(li, v, onRetry);
  return li;
}

function fillCard(li, v, onRetry) {
  clear(li);
  li.dataset.status = v.status;
  const poster = posterOf(v);
  const dur = durationOf(v);
  const pct = progressOf(v);
  const media = poster
    ? h('img', { class: 'card-poster', src: poster, alt: '', loading: 'lazy', width: '320', height: '180' })
    : h('div', { class: 'card-poster-placeholder', 'aria-hidden': 'true' }, v.status === 'failed' ? '!' : '…');
  const link = h('a', { class: 'card-link', href: `/videos/${encodeURIComponent(v.id)}` },
    h('div', { class: 'card-media' }, media,
      Number.isFinite(dur) && dur > 0 ? h('span', { class: 'card-duration' }, formatDuration(dur)) : h('span', { class: 'card-duration', hidden: true })),
    h('span', { class: 'card-title' }, titleOf(v)));
  const chip = h('span', { class: `status-chip status-${v.status}`, title: statusLabel[v.status] || v.status }, v.status);
  const body = h('div', { class: 'card-body' }, link, h('div', { class: 'card-row' }, chip,
    pct >= 0 && v.status !== 'failed' && v.status !== 'ready' ? h('progress', { class: 'card-progress', max: '100', value: String(Math.round(pct * 100)), 'aria-label': `Processing ${titleOf(v)}` }) : null));
  li.append(body);
  if (v.status === 'failed') {
    const err = h('p', { class: 'card-error field-error', role: 'alert' });
    const retry = h('button', { type: 'button', class: 'card-retry button-secondary', 'aria-label': `Retry ${titleOf(v)}` }, 'Retry');
    retry.addEventListener('click', async () => {
      retry.disabled = true;
      err.textContent = '';
      try {
        await onRetry(v.id);
        retry.textContent = 'Retrying…';
      } catch (e) {
        err.textContent = e.message;
        retry.disabled = false;
      }
    });
    body.append(h('p', { class: 'card-failure' }, failureText(v)), h('div', { class: 'card-row' }, retry), err);
  }
}

export async function render(root, _params, ctx) {
  const { signal } = ctx;
  const params = new URLSearchParams(location.search);
  const q = (params.get('q') || '').trim();
  const cards = new Map(); // id -> li

  const list = h('ul', { id: 'video-list', class: 'video-grid', 'aria-label': q ? 'Search results' : 'Your videos' });
  const empty = h('div', { id: 'library-empty', class: 'empty', hidden: true });
  const more = h('button', { type: 'button', id: 'load-more', class: 'button-secondary', hidden: true }, 'Load more');
  const listError = h('p', { class: 'field-error', role: 'alert', id: 'library-error' });
  const live = h('span', { class: 'live-indicator', id: 'live-indicator', 'aria-live': 'polite' });

  const retry = async (id) => {
    await api.retry(id);
  };

  const upsert = (v, { prepend = false, add = true } = {}) => {
    const old = cards.get(v.id);
    if (old) {
      fillCard(old, v, retry);
      return;
    }
    if (!add) return;
    const li = card(v, retry);
    cards.set(v.id, li);
    if (prepend) list.prepend(li); else list.append(li);
    empty.hidden = true;
  };
  const remove = (id) => {
    const li = cards.get(id);
    if (li) { li.remove(); cards.delete(id); }
    showEmpty();
  };
  const showEmpty = () => {
    empty.hidden = cards.size > 0;
    clear(empty);
    if (q) {
      empty.append(h('p', {}, `No ready video matches “${q}”.`), h('p', {}, h('a', { href: '/' }, 'Show all your videos')));
    } else {
      empty.append(h('h2', {}, 'No videos yet'), h('p', {}, 'Choose video files or drop them on the upload area above: they appear here as they are processed.'));
    }
  };

  // Search form.
  const qInput = h('input', { id: 'search-q', name: 'q', type: 'search', value: q, placeholder: 'Search ready videos', autocomplete: 'off' });
  const search = h('form', { id: 'search', role: 'search', class: 'search' },
    h('label', { for: 'search-q', class: 'visually-hidden' }, 'Search your videos'),
    qInput,
    h('button', { type: 'submit' }, 'Search'));
  search.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = qInput.value.trim();
    ctx.navigate(v ? `/?q=${encodeURIComponent(v)}` : '/');
  });

  const finished = async (id) => {
    if (!id || q) return;
    try { upsert(await api.video(id), { prepend: true }); } catch { /* the events stream adds it */ }
  };

  root.append(h('main', { class: 'page stack' },
    renderUploads(finished),
    h('section', { class: 'stack', 'aria-labelledby': 'library-heading' },
      h('div', { class: 'library-head' },
        h('h1', { id: 'library-heading' }, q ? 'Search results' : 'Your videos'),
        live,
        search),
      listError,
      list,
      empty,
      h('div', { class: 'load-more-row' }, more))));

  let cursor = '';
  const load = async () => {
    more.disabled = true;
    listError.textContent = '';
    try {
      const page = await api.videos({ q, cursor }, { signal });
      for (const v of page.items || []) upsert(v);
      cursor = page.next_cursor || '';
      more.hidden = !cursor;
    } catch (err) {
      if (signal.aborted) return;
      listError.textContent = `Your videos could not be loaded: ${err.message}`;
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener('click', load);

  await load();
  if (signal.aborted) return;
  showEmpty();

  // Live updates.
  stream('/v1/events', {
    signal,
    onOpen: () => { live.textContent = 'Live'; live.classList.add('on'); },
    onEnd: () => { live.textContent = ''; live.classList.remove('on'); },
    onEvent: (ev) => {
      let data;
      try { data = JSON.parse(ev.data); } catch { return; }
      if (ev.event === 'deleted') { remove(data.id || data.video_id); return; }
      if (ev.event !== 'video' || !data || !data.id) return;
      if (data.deleted || data.status === 'deleted') { remove(data.id); return; }
      // A search lists ready videos only: update them, add none.
      upsert(data, { prepend: true, add: !q });
    },
  });
  ctx.ready();
}

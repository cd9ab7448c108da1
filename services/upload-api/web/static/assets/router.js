// The History API router: routes map a path to a page module's render
// function; same-origin link clicks navigate without a reload.

const routes = [];
let current = null; // {ctrl: AbortController}
let renderHook = null;

/** route adds pattern (a RegExp with groups for params) -> render. */
export function route(pattern, page) {
  routes.push({ pattern, page });
}

/** onRender sets fn(page, params, signal) that renders a matched route. */
export function onRender(fn) { renderHook = fn; }

/** navigate goes to path (pushState, or replaceState with replace). */
export function navigate(path, { replace = false } = {}) {
  if (path !== location.pathname + location.search) {
    if (replace) history.replaceState(null, '', path);
    else history.pushState(null, '', path);
  }
  return dispatch();
}

/** dispatch renders the route of the current location. */
export function dispatch() {
  if (current) current.ctrl.abort();
  const ctrl = new AbortController();
  current = { ctrl };
  const path = location.pathname;
  for (const r of routes) {
    const m = r.pattern.exec(path);
    if (m) return renderHook(r.page, m.slice(1).map(decodeURIComponent), ctrl.signal);
  }
  return renderHook(null, [], ctrl.signal);
}

/** start listens to back/forward and to link clicks. */
export function start() {
  window.addEventListener('popstate', () => dispatch());
  document.addEventListener('click', (ev) => {
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    const a = ev.target.closest && ev.target.closest('a[href]');
    if (!a || a.target || a.hasAttribute('download')) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith('/v1/') || url.pathname.startsWith('/assets/')) return;
    if (url.hash && url.pathname === location.pathname) return;
    ev.preventDefault();
    navigate(url.pathname + url.search);
  });
  return dispatch();
}

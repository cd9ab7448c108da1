// The vidpipe web app: boots the router, keeps the header (who is signed
// in, the admin-only Ops link) and marks document.body with the page
// shown (data-page) and whether its data has rendered (data-ready).

import { api, getToken, setToken, onUnauthorized } from './api.js';
import { route, onRender, navigate, start } from './router.js';
import { clear } from './dom.js';
import * as signin from './pages/signin.js';
import * as library from './pages/library.js';
import * as video from './pages/video.js';
import * as webhooks from './pages/webhooks.js';
import * as ops from './pages/ops.js';
import * as notfound from './pages/notfound.js';

/** session is who is signed in: {user, admin}, or null. */
let session = null;

async function loadSession() {
  if (session || !getToken()) return session;
  session = await api.me();
  showHeader();
  return session;
}

function showHeader() {
  const header = document.getElementById('site-header');
  header.hidden = !session;
  document.getElementById('whoami').textContent = session ? session.user : '';
  document.getElementById('nav-ops').hidden = !(session && session.admin);
}

function markNav() {
  document.querySelectorAll('.site-header nav a').forEach((a) => {
    const here = a.getAttribute('href') === '/' ? (location.pathname === '/' || location.pathname.startsWith('/videos/')) : location.pathname.startsWith(a.getAttribute('href'));
    if (here) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  });
}

export function signOut() {
  setToken('');
  session = null;
  showHeader();
  navigate('/signin', { replace: true });
}

/** ctx is what each page's render gets. */
function pageContext(signal) {
  return {
    signal,
    get session() { return session; },
    navigate,
    ready() { if (!signal.aborted) document.body.dataset.ready = 'true'; },
    async signIn(token) {
      const me = await api.me({ token });
      setToken(token);
      session = me;
      showHeader();
      return me;
    },
  };
}

route(/^\/signin\/?$/, signin);
route(/^\/$/, library);
route(/^\/videos\/([^/]+)\/?$/, video);
route(/^\/webhooks\/?$/, webhooks);
route(/^\/ops\/?$/, ops);

onRender(async (page, params, signal) => {
  document.body.dataset.ready = 'false';
  const root = clear(document.getElementById('content'));
  const ctx = pageContext(signal);
  if (page !== signin && page !== null) {
    if (!getToken()) {
      const back = location.pathname + location.search;
      return navigate(`/signin${back && back !== '/' ? `?next=${encodeURIComponent(back)}` : ''}`, { replace: true });
    }
    try {
      await loadSession();
    } catch (err) {
      if (err.status === 401) return signOut();
      // The API is unreachable: the page shows its own errors.
    }
  }
  if (page === signin && session) return navigate('/', { replace: true });
  if (page === ops && session && !session.admin) page = null;
  const p = page || notfound;
  document.body.dataset.page = p.name;
  markNav();
  try {
    await p.render(root, params, ctx);
  } catch (err) {
    if (signal.aborted || (err && err.name === 'AbortError')) return;
    notfound.renderError(root, err);
    ctx.ready();
  }
});

onUnauthorized(() => { if (session) signOut(); });
document.getElementById('signout').addEventListener('click', signOut);
start();

// Not found: a path the app does not know, or a page that could not load.

import { h } from '../dom.js';

export const name = 'notfound';

export async function render(root, _params, ctx) {
  root.append(h('main', { class: 'page page-narrow' },
    h('div', { class: 'card stack' },
      h('h1', {}, 'Page not found'),
      h('p', {}, 'There is nothing at this address. It may have been deleted, or the link may be mistyped.'),
      h('p', {}, h('a', { href: '/', class: 'button' }, 'Go to your library')))));
  ctx.ready();
}

/** renderError replaces the page with err in words. */
export function renderError(root, err) {
  while (root.firstChild) root.firstChild.remove();
  root.append(h('main', { class: 'page page-narrow' },
    h('div', { class: 'card stack' },
      h('h1', {}, 'Something went wrong'),
      h('p', { role: 'alert', class: 'field-error' }, (err && err.message) || 'The page could not be loaded.'),
      h('p', {}, h('a', { href: location.pathname, class: 'button' }, 'Try again')))));
}

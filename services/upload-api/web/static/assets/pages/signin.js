// Sign in: the user pastes the API token; /v1/me checks it before it is
// kept (sessionStorage, this tab only).

import { h } from '../dom.js';

export const name = 'signin';

export async function render(root, _params, ctx) {
  const error = h('p', { id: 'signin-error', class: 'field-error', role: 'alert' });
  const input = h('input', { id: 'signin-token', name: 'token', type: 'password', autocomplete: 'current-password', required: true, 'aria-describedby': 'signin-help signin-error', spellcheck: 'false' });
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { id: 'signin', class: 'card stack', novalidate: true },
    h('h1', {}, 'Sign in to vidpipe'),
    h('div', { class: 'field' },
      h('label', { for: 'signin-token' }, 'API token'),
      input,
      h('p', { id: 'signin-help', class: 'hint' }, 'The bearer token your administrator gave you (in the dev stack: dev-alice). It is kept in this tab only.')),
    error,
    button);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    error.textContent = '';
    input.removeAttribute('aria-invalid');
    if (!token) {
      error.textContent = 'Enter your API token.';
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    button.disabled = true;
    try {
      await ctx.signIn(token);
      const next = new URLSearchParams(location.search).get('next');
      ctx.navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true });
    } catch (err) {
      error.textContent = err.status === 401
        ? 'This token is not valid. Check it and try again.'
        : err.message;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  root.append(h('main', { class: 'page page-narrow' }, form));
  input.focus();
  ctx.ready();
}

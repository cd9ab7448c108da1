// Webhooks: register an endpoint (its secret is shown once), enable or
// delete endpoints, see an endpoint's deliveries and replay its events.

import { api } from '../api.js';
import { h, clear, formatTime } from '../dom.js';

export const name = 'webhooks';

const EVENT_TYPES = ['video.uploaded', 'video.playable', 'video.transcoded', 'video.thumbnailed', 'video.ready', 'video.failed', 'video.deleted', 'video.updated'];

export async function render(root, _params, ctx) {
  const { signal } = ctx;
  const list = h('ul', { id: 'webhook-list', class: 'webhook-list', 'aria-label': 'Your webhook endpoints' });
  const listError = h('p', { class: 'field-error', role: 'alert' });
  const empty = h('p', { id: 'webhooks-empty', class: 'empty', hidden: true }, 'No endpoints yet: add one above to receive your videos’ events.');
  const deliveriesTitle = h('h2', { id: 'deliveries-h' }, 'Deliveries');
  const deliveriesBody = h('tbody');
  const deliveriesHint = h('p', { class: 'hint', id: 'deliveries-hint' }, 'Choose “Deliveries” on an endpoint to see them here.');
  const deliveries = h('table', { id: 'deliveries', class: 'table', 'aria-labelledby': 'deliveries-h' },
    h('thead', {}, h('tr', {}, ['Event', 'Status', 'Attempts', 'HTTP', 'Created', 'Error'].map((c) => h('th', { scope: 'col' }, c)))),
    deliveriesBody);

  // ---- Create.
  const url = h('input', { id: 'webhook-url', name: 'url', type: 'url', required: true, placeholder: 'https://example.com/hooks/vidpipe', autocomplete: 'url' });
  const description = h('input', { id: 'webhook-description', name: 'description', type: 'text', maxlength: '512' });
  const boxes = EVENT_TYPES.map((t) => {
    const id = `webhook-event-${t.replace('.', '-')}`;
    return h('label', { class: 'check', for: id }, h('input', { id, type: 'checkbox', name: 'events', value: t, checked: t === 'video.ready' || t === 'video.failed' }), ` ${t}`);
  });
  const createError = h('p', { id: 'webhook-create-error', class: 'field-error', role: 'alert' });
  const secret = h('div', { id: 'webhook-secret', class: 'secret', hidden: true, role: 'status' });
  const create = h('form', { id: 'webhook-create', class: 'card stack', novalidate: true },
    h('h2', {}, 'Add an endpoint'),
    h('div', { class: 'field' }, h('label', { for: 'webhook-url' }, 'URL'), url),
    h('div', { class: 'field' }, h('label', { for: 'webhook-description' }, 'Description (optional)'), description),
    h('fieldset', { class: 'checks' }, h('legend', {}, 'Events'), boxes),
    createError,
    h('div', {}, h('button', { type: 'submit' }, 'Add endpoint')),
    secret);

  root.append(h('main', { class: 'page stack' },
    h('h1', {}, 'Webhooks'),
    h('p', { class: 'hint' }, 'vidpipe POSTs your videos’ events to these URLs in the Standard Webhooks format, signed with the endpoint’s secret.'),
    create,
    h('section', { class: 'card stack', 'aria-labelledby': 'endpoints-h' }, h('h2', { id: 'endpoints-h' }, 'Endpoints'), listError, list, empty),
    h('section', { class: 'card stack', 'aria-labelledby': 'deliveries-h' }, deliveriesTitle, deliveriesHint, h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-labelledby': 'deliveries-h' }, deliveries))));

  const showDeliveries = async (wh) => {
    deliveriesTitle.textContent = `Deliveries to ${wh.url}`;
    deliveriesHint.textContent = 'Loading…';
    try {
      const out = await api.deliveries(wh.id, 50);
      clear(deliveriesBody);
      for (const d of out.deliveries || []) {
        deliveriesBody.append(h('tr', { dataset: { deliveryId: String(d.id), status: d.status } },
          h('td', {}, d.event_type), h('td', {}, d.status), h('td', {}, String(d.attempts)),
          h('td', {}, d.status_code ? String(d.status_code) : ''), h('td', {}, formatTime(d.created_at)), h('td', {}, d.error || '')));
      }
      deliveriesHint.textContent = deliveriesBody.children.length ? '' : 'No deliveries yet.';
    } catch (err) {
      deliveriesHint.textContent = `The deliveries could not be loaded: ${err.message}`;
    }
  };

  const item = (wh) => {
    const err = h('p', { class: 'field-error', role: 'alert' });
    const since = h('input', { type: 'datetime-local', id: `replay-since-${wh.id}`, name: 'since' });
    const d = new Date(Date.now() - 3600 * 1000);
    since.value = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    const act = (label, cls, fn) => {
      const b = h('button', { type: 'button', class: `${cls} button-secondary`, 'aria-label': `${label} ${wh.url}` }, label);
      b.addEventListener('click', async () => {
        err.textContent = '';
        b.disabled = true;
        try { await fn(); } catch (e) { err.textContent = e.message; } finally { b.disabled = false; }
      });
      return b;
    };
    const li = h('li', { class: 'webhook', dataset: { webhookId: wh.id, enabled: String(wh.enabled) } },
      h('div', { class: 'webhook-head' },
        h('strong', { class: 'webhook-url' }, wh.url),
        h('span', { class: `status-chip ${wh.enabled ? 'status-ready' : 'status-failed'}` }, wh.enabled ? 'enabled' : 'disabled')),
      wh.description ? h('p', {}, wh.description) : null,
      h('p', { class: 'hint' }, (wh.event_types || []).join(', '), wh.disabled_reason ? ` · disabled: ${wh.disabled_reason}` : ''),
      h('div', { class: 'form-row' },
        act('Deliveries', 'webhook-deliveries', () => showDeliveries(wh)),
        wh.enabled ? null : act('Enable', 'webhook-enable', async () => { await api.enableWebhook(wh.id); await load(); }),
        act('Delete', 'webhook-delete', async () => { await api.deleteWebhook(wh.id); await load(); })),
      h('div', { class: 'form-row replay' },
        h('label', { for: `replay-since-${wh.id}` }, 'Replay events since'), since,
        act('Replay', 'webhook-replay', async () => {
          const t = new Date(since.value);
          if (Number.isNaN(t.getTime())) throw new Error('Choose a date and time to replay from.');
          const out = await api.replayWebhook(wh.id, t.toISOString().replace(/\.\d{3}Z$/, 'Z'));
          err.textContent = '';
          li.querySelector('.replay-result').textContent = `${out.replayed} deliveries queued again.`;
          await showDeliveries(wh);
        })),
      h('p', { class: 'replay-result hint', role: 'status' }),
      err);
    return li;
  };

  const load = async () => {
    listError.textContent = '';
    try {
      const out = await api.webhooks();
      clear(list);
      for (const wh of out.webhooks || []) list.append(item(wh));
      empty.hidden = list.children.length > 0;
    } catch (err) {
      if (!signal.aborted) listError.textContent = `Your endpoints could not be loaded: ${err.message}`;
    }
  };

  create.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    createError.textContent = '';
    url.removeAttribute('aria-invalid');
    const types = boxes.map((l) => l.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
    if (!url.value.trim()) { createError.textContent = 'Enter the URL to POST events to.'; url.setAttribute('aria-invalid', 'true'); url.focus(); return; }
    if (!types.length) { createError.textContent = 'Choose at least one event.'; return; }
    try {
      const out = await api.createWebhook({ url: url.value.trim(), event_types: types, description: description.value.trim() });
      clear(secret).append(h('p', {}, 'The endpoint’s signing secret. It is shown only now: copy it.'), h('code', { class: 'secret-value' }, out.secret));
      secret.hidden = false;
      url.value = '';
      description.value = '';
      await load();
    } catch (err) {
      createError.textContent = err.message;
      url.setAttribute('aria-invalid', 'true');
    }
  });

  await load();
  ctx.ready();
}

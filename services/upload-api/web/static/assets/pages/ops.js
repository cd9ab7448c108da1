// Ops (admins only): each stage's consumer lag and dead letters waiting,
// the dead letters themselves, and redrive.

import { api } from '../api.js';
import { h, clear, formatTime } from '../dom.js';

export const name = 'ops';

export async function render(root, _params, ctx) {
  const { signal } = ctx;
  const stagesBody = h('tbody');
  const stagesError = h('p', { class: 'field-error', role: 'alert' });
  const dlBody = h('tbody');
  const dlError = h('p', { class: 'field-error', role: 'alert' });
  const dlEmpty = h('p', { class: 'hint', hidden: true }, 'No dead letters.');
  const stageFilter = h('select', { id: 'dlq-stage', name: 'stage' }, h('option', { value: '' }, 'All stages'));
  const refresh = h('button', { type: 'button', id: 'ops-refresh', class: 'button-secondary' }, 'Refresh');
  const result = h('p', { id: 'redrive-result', role: 'status' });

  root.append(h('main', { class: 'page stack' },
    h('div', { class: 'library-head' }, h('h1', {}, 'Operations'), refresh),
    h('section', { class: 'card stack', 'aria-labelledby': 'stages-h' },
      h('h2', { id: 'stages-h' }, 'Stages'), stagesError,
      h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-labelledby': 'stages-h' }, h('table', { id: 'ops-stages', class: 'table', 'aria-labelledby': 'stages-h' },
        h('thead', {}, h('tr', {}, ['Stage', 'Group', 'Lag', 'Dead letters'].map((c, i) => h('th', { scope: 'col', class: i >= 2 ? 'num' : null }, c)))),
        stagesBody))),
    h('section', { class: 'card stack', 'aria-labelledby': 'dl-h' },
      h('h2', { id: 'dl-h' }, 'Dead letters'),
      h('div', { class: 'form-row' }, h('label', { for: 'dlq-stage' }, 'Stage'), stageFilter),
      dlError, result,
      h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-labelledby': 'dl-h' }, h('table', { id: 'dead-letters', class: 'table', 'aria-labelledby': 'dl-h' },
        h('thead', {}, h('tr', {}, ['Failed', 'Stage', 'Video', 'Reason', 'Class', 'Attempts', ''].map((c) => h('th', { scope: 'col' }, c)))),
        dlBody)),
      dlEmpty)));

  const loadStages = async () => {
    stagesError.textContent = '';
    try {
      const out = await api.stages();
      clear(stagesBody);
      const known = new Set(Array.from(stageFilter.options).map((o) => o.value));
      for (const s of out.stages || []) {
        const depth = s.dlq ? s.dlq.depth : 0;
        stagesBody.append(h('tr', { dataset: { stage: s.stage } },
          h('th', { scope: 'row' }, s.stage), h('td', {}, s.group || ''),
          h('td', { class: `lag num${s.lag > 0 ? ' warn' : ''}`, title: (s.topics || []).map((t) => `${t.topic}: ${t.lag}`).join('\n') }, String(s.lag ?? 0)),
          h('td', { class: `dlq-depth num${depth > 0 ? ' warn' : ''}` }, String(depth))));
        if (!known.has(s.stage)) stageFilter.append(h('option', { value: s.stage }, s.stage));
      }
    } catch (err) {
      if (!signal.aborted) stagesError.textContent = `The stages could not be loaded: ${err.message}`;
    }
  };

  const loadDead = async () => {
    dlError.textContent = '';
    try {
      const out = await api.deadLetters(stageFilter.value, 100);
      clear(dlBody);
      for (const d of out.items || []) {
        const btn = h('button', { type: 'button', class: 'redrive button-secondary', disabled: d.redriven, 'aria-label': `Redrive ${d.id}` }, d.redriven ? 'Redriven' : 'Redrive');
        btn.addEventListener('click', async () => {
          btn.disabled = true;
          result.textContent = '';
          try {
            const r = await api.redrive({ stage: d.stage, ids: [d.id] });
            result.textContent = `${r.redriven} dead letter${r.redriven === 1 ? '' : 's'} redriven.`;
            await Promise.all([loadStages(), loadDead()]);
          } catch (e) {
            dlError.textContent = e.message;
            btn.disabled = false;
          }
        });
        dlBody.append(h('tr', { dataset: { dlqId: d.id, redriven: String(!!d.redriven) } },
          h('td', {}, formatTime(d.failed_at)), h('td', {}, d.stage),
          h('td', {}, d.video_id ? h('code', {}, d.video_id) : ''),
          h('td', { class: 'reason' }, d.reason || ''), h('td', {}, d.error_class || ''),
          h('td', { class: 'num' }, String(d.attempts ?? '')), h('td', {}, btn)));
      }
      dlEmpty.hidden = dlBody.children.length > 0;
    } catch (err) {
      if (!signal.aborted) dlError.textContent = `The dead letters could not be loaded: ${err.message}`;
    }
  };

  stageFilter.addEventListener('change', loadDead);
  refresh.addEventListener('click', () => Promise.all([loadStages(), loadDead()]));
  await Promise.all([loadStages(), loadDead()]);
  ctx.ready();
}

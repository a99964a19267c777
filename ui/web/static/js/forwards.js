// The forwards view: every config grouped by context (collapsible), then
// namespace, with live status, pod, address, counters and a throughput
// sparkline; start/stop/toggle, multi-select, start all/stop all,
// restart, add/edit/duplicate/delete, import and export.
import { api } from './api.js';
import { store, subscribe, refresh, HISTORY } from './store.js';
import { h, svg, setText, syncChildren, clear } from './dom.js';
import { bytes, rate, plural, target, until } from './format.js';
import { toast, confirmDialog, resultErrors } from './ui.js';
import { openForm } from './form.js';

export const title = 'Forwards';

const COLLAPSED_KEY = 'kftray.collapsed';
const active = new Set(['running', 'starting', 'retrying']);

export function mount(main) {
  const selected = new Set();
  const pending = new Set(); // ids with a request in flight
  let collapsed;
  try {
    collapsed = new Set(JSON.parse(localStorage.getItem(COLLAPSED_KEY) || '[]'));
  } catch {
    collapsed = new Set();
  }
  let filter = '';

  // --- toolbar
  const fileInput = h('input', { type: 'file', accept: '.json,application/json', hidden: true, id: 'import-file', 'aria-label': 'kftray JSON file to import' });
  const selAll = h('input', { type: 'checkbox', id: 'select-all', title: 'Select every forward shown' });
  const filterInput = h('input', { type: 'search', id: 'filter', placeholder: 'Filter (/)', 'aria-label': 'Filter forwards', autocomplete: 'off' });
  const toolbar = h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Forwards' },
    h('button', { type: 'button', id: 'add-forward', class: 'primary', 'aria-keyshortcuts': 'n', onclick: () => openForm({ mode: 'add' }) }, 'Add'),
    h('button', { type: 'button', id: 'import', onclick: () => fileInput.click() }, 'Import…'),
    h('a', { class: 'button', id: 'export', href: '/v1/configs/export', download: 'kftray-configs.json' }, 'Export'),
    h('span', { class: 'sep', 'aria-hidden': 'true' }),
    h('button', { type: 'button', id: 'start-all', onclick: () => act('start', { all: true }, 'Start all') }, 'Start all'),
    h('button', { type: 'button', id: 'stop-all', onclick: () => act('stop', { all: true }, 'Stop all') }, 'Stop all'),
    h('label', { class: 'check select-all' }, selAll, 'Select all'),
    filterInput,
    fileInput,
  );
  filterInput.addEventListener('input', () => {
    filter = filterInput.value.trim().toLowerCase();
    render();
  });
  fileInput.addEventListener('change', async () => {
    const file = fileInput.files[0];
    fileInput.value = '';
    if (!file) return;
    try {
      const res = await api.importConfigs(await file.text());
      const n = (l) => (l || []).length;
      toast(`Imported ${file.name}: ${n(res.added)} added, ${n(res.updated)} updated, ${n(res.unchanged)} unchanged`, { kind: 'ok' });
      await refresh();
    } catch (e) {
      toast(`Import of ${file.name} refused:\n${e.message}`, { kind: 'error' });
    }
  });

  // --- selection bar
  const selCount = h('span', { id: 'sel-count' });
  const selbar = h('div', { class: 'selbar', role: 'toolbar', 'aria-label': 'Selected forwards' },
    selCount,
    h('button', { type: 'button', id: 'sel-start', onclick: () => actSelected('start') }, 'Start'),
    h('button', { type: 'button', id: 'sel-stop', onclick: () => actSelected('stop') }, 'Stop'),
    h('button', { type: 'button', id: 'sel-restart', onclick: () => actSelected('restart') }, 'Restart'),
    h('button', { type: 'button', id: 'sel-delete', class: 'danger', onclick: deleteSelected }, 'Delete'),
    h('button', { type: 'button', id: 'sel-clear', onclick: () => {
      selected.clear();
      render();
      selAll.focus();
    } }, 'Clear'),
  );
  selAll.addEventListener('change', () => {
    for (const f of visible()) {
      if (selAll.checked) selected.add(f.id);
      else selected.delete(f.id);
    }
    render();
  });

  const list = h('div', { id: 'forward-list', class: 'groups' });
  const empty = h('div', { class: 'empty', hidden: true });
  main.append(h('h1', { class: 'visually-hidden' }, 'Forwards'), toolbar, selbar, empty, list);

  // --- actions
  async function act(what, sel, label) {
    try {
      const res = await api[what](sel);
      const errs = resultErrors(res);
      if (errs) toast(`${label}:\n${errs}`, { kind: 'error' });
      for (const r of res.results || []) if (r.forward) store.forwards.set(r.forward.id, r.forward);
      refresh().catch(() => {});
    } catch (e) {
      toast(`${label}: ${e.message}`, { kind: 'error' });
    }
  }

  async function actOne(f, what) {
    pending.add(f.id);
    render();
    try {
      await act(what, { refs: [String(f.id)] }, `${what[0].toUpperCase()}${what.slice(1)} ${f.name}`);
    } finally {
      pending.delete(f.id);
      render();
    }
  }

  function actSelected(what) {
    const refs = [...selected].filter((id) => store.forwards.has(id)).map(String);
    if (refs.length) act(what, { refs }, `${what[0].toUpperCase()}${what.slice(1)} ${plural(refs.length, 'forward')}`);
  }

  async function deleteOne(f) {
    if (!(await confirmDialog(`Delete ${f.name}?`, `The config ${f.name} is deleted and its forward stopped. This cannot be undone (export first to keep a copy).`, 'Delete'))) return;
    try {
      await api.deleteConfig(String(f.id));
      selected.delete(f.id);
      toast(`Deleted ${f.name}`, { kind: 'ok' });
      await refresh();
    } catch (e) {
      toast(`Delete ${f.name}: ${e.message}`, { kind: 'error' });
    }
  }

  async function deleteSelected() {
    const ids = [...selected].filter((id) => store.forwards.has(id));
    if (!ids.length) return;
    const names = ids.map((id) => store.forwards.get(id).name).join(', ');
    if (!(await confirmDialog(`Delete ${plural(ids.length, 'config')}?`, `${names}: deleted and stopped. This cannot be undone.`, 'Delete'))) return;
    const errs = [];
    for (const id of ids) {
      try {
        await api.deleteConfig(String(id));
        selected.delete(id);
      } catch (e) {
        errs.push(`${store.forwards.get(id)?.name || id}: ${e.message}`);
      }
    }
    if (errs.length) toast(`Delete:\n${errs.join('\n')}`, { kind: 'error' });
    await refresh().catch(() => {});
  }

  // --- rows, kept by id and updated in place
  const rows = new Map();
  const groups = new Map(); // context -> {details, summary, body, namespaces: Map}

  function makeRow(f) {
    const r = {};
    r.check = h('input', { type: 'checkbox', class: 'sel' });
    r.check.addEventListener('change', () => {
      if (r.check.checked) selected.add(r.id);
      else selected.delete(r.id);
      render();
    });
    r.name = h('span', { class: 'name' });
    r.status = h('span', { class: 'status' });
    r.target = h('span', { class: 'target' });
    r.addr = h('span', { class: 'addr' });
    r.pod = h('span', { class: 'pod' });
    r.counters = h('span', { class: 'counters' });
    r.error = h('p', { class: 'error', hidden: true });
    r.sparkPath = svg('path', { class: 'spark-line' });
    r.sparkTitle = svg('title');
    r.spark = svg('svg', { class: 'spark', viewBox: `0 0 ${HISTORY} 20`, preserveAspectRatio: 'none', role: 'img' }, r.sparkTitle,
      svg('line', { class: 'spark-base', x1: 0, y1: 19.5, x2: HISTORY, y2: 19.5 }), r.sparkPath);
    r.toggle = h('button', { type: 'button', role: 'switch', class: 'switch' }, h('span', { class: 'knob', 'aria-hidden': 'true' }));
    r.toggle.addEventListener('click', () => {
      const f = store.forwards.get(r.id);
      if (f) actOne(f, active.has(f.status) ? 'stop' : 'start');
    });
    const item = (label, fn, cls) => h('button', { type: 'button', role: 'menuitem', class: cls, onclick: () => {
      r.menu.open = false;
      const f = store.forwards.get(r.id);
      if (f) fn(f);
    } }, label);
    r.menuSummary = h('summary', { class: 'icon' }, '⋯');
    r.menu = h('details', { class: 'menu' }, r.menuSummary,
      h('div', { role: 'menu', class: 'menu-items' },
        item('Restart', (f) => actOne(f, 'restart'), 'm-restart'),
        item('Edit…', (f) => openForm({ mode: 'edit', id: f.id }), 'm-edit'),
        item('Duplicate…', (f) => openForm({ mode: 'duplicate', id: f.id }), 'm-duplicate'),
        item('Delete…', deleteOne, 'm-delete danger'),
      ));
    // Menu keys: arrows move between items, Escape closes.
    r.menu.addEventListener('keydown', (e) => {
      const items = [...r.menu.querySelectorAll('[role=menuitem]')];
      const i = items.indexOf(document.activeElement);
      if (e.key === 'Escape' && r.menu.open) {
        e.preventDefault();
        r.menu.open = false;
        r.menuSummary.focus();
      } else if ((e.key === 'ArrowDown' || e.key === 'ArrowUp') && r.menu.open) {
        e.preventDefault();
        const n = items.length;
        const down = e.key === 'ArrowDown';
        items[i < 0 ? (down ? 0 : n - 1) : (i + (down ? 1 : n - 1)) % n].focus();
      } else if (e.key === 'ArrowDown' && !r.menu.open && document.activeElement === r.menuSummary) {
        e.preventDefault();
        r.menu.open = true;
        items[0].focus();
      }
    });
    r.menu.addEventListener('toggle', () => {
      if (r.menu.open) r.menu.querySelector('[role=menuitem]').focus();
    });
    r.el = h('li', { class: 'fwd' },
      r.check,
      h('span', { class: 'dot', 'aria-hidden': 'true' }),
      h('div', { class: 'info' },
        h('div', { class: 'line' }, r.name, r.status, r.target),
        h('div', { class: 'line' }, r.addr, r.pod),
        h('div', { class: 'line' }, r.counters),
        r.error),
      r.spark, r.toggle, r.menu);
    r.id = f.id;
    return r;
  }

  function updateRow(r, f) {
    const el = r.el;
    el.dataset.id = f.id;
    el.dataset.name = f.name;
    el.dataset.status = f.status;
    setText(r.name, f.name);
    const elsewhere = f.pid && store.status && f.pid !== store.status.pid && active.has(f.status);
    setText(r.status, f.status + (elsewhere ? ` (kftray run, pid ${f.pid})` : '') + (f.status === 'retrying' && f.next_try ? ` · next try ${until(f.next_try)}` : ''));
    setText(r.target, target(f.config));
    setText(r.addr, f.address || (f.config && f.config.local_port ? `${f.config.local_address || '127.0.0.1'}:${f.config.local_port}` : 'any free port'));
    r.addr.title = f.address ? 'bound local address' : 'local address when started';
    setText(r.pod, f.pod ? `pod ${f.pod}` : '');
    setText(r.counters, `${f.active_conns || 0} open · ${plural(f.total_conns || 0, 'conn')} · in ${bytes(f.bytes_from_pod)} · out ${bytes(f.bytes_to_pod)} · ${plural(f.reconnects || 0, 'reconnect')}`);
    r.error.hidden = !f.last_error;
    setText(r.error, f.last_error ? `${f.status === 'failed' ? 'Failed' : 'Error'}: ${f.last_error}` : '');
    r.check.checked = selected.has(f.id);
    r.check.setAttribute('aria-label', `Select ${f.name}`);
    const on = active.has(f.status);
    r.toggle.setAttribute('aria-checked', String(on));
    r.toggle.setAttribute('aria-label', `Forward ${f.name}`);
    r.toggle.title = on ? `Stop ${f.name}` : `Start ${f.name}`;
    r.toggle.disabled = pending.has(f.id);
    r.menuSummary.setAttribute('aria-label', `More actions for ${f.name}`);
    // Sparkline of bytes/s over the last minute.
    const series = store.rates.get(f.id) || [];
    const max = Math.max(1024, ...series);
    let d = '';
    const off = HISTORY - series.length;
    series.forEach((v, i) => {
      d += `${i ? 'L' : 'M'}${off + i} ${(19 - (v / max) * 18).toFixed(2)}`;
    });
    if (r.sparkPath.getAttribute('d') !== d) r.sparkPath.setAttribute('d', d || 'M0 19');
    const now = series.length ? series[series.length - 1] : 0;
    const label = `Throughput of ${f.name}: ${rate(now)} now, peak ${rate(Math.max(0, ...series))} over the last minute`;
    r.spark.setAttribute('aria-label', label);
    setText(r.sparkTitle, label);
  }

  function group(ctx) {
    let g = groups.get(ctx);
    if (!g) {
      const summaryText = h('span', { class: 'ctx-name' });
      const counts = h('span', { class: 'ctx-counts' });
      const summary = h('summary', {}, summaryText, counts);
      const body = h('div', { class: 'ctx-body' });
      const details = h('details', { class: 'ctx' }, summary, body);
      details.open = !collapsed.has(ctx);
      details.addEventListener('toggle', () => {
        if (details.open) collapsed.delete(ctx);
        else collapsed.add(ctx);
        try {
          localStorage.setItem(COLLAPSED_KEY, JSON.stringify([...collapsed]));
        } catch {
          /* private mode */
        }
      });
      g = { details, summaryText, counts, body, namespaces: new Map() };
      groups.set(ctx, g);
    }
    return g;
  }

  function namespace(g, ns) {
    let n = g.namespaces.get(ns);
    if (!n) {
      const ul = h('ul', { class: 'fwds' });
      const heading = h('h3', { class: 'ns' }, ns);
      const sec = h('section', { class: 'ns-group' }, heading, ul);
      ul.setAttribute('aria-label', `namespace ${ns}`);
      n = { sec, ul };
      g.namespaces.set(ns, n);
    }
    return n;
  }

  function matches(f) {
    if (!filter) return true;
    const c = f.config || {};
    return [f.name, f.status, f.pod, f.address, c.context, c.namespace, c.service, c.target, c.remote_address, c.alias]
      .some((s) => s && String(s).toLowerCase().includes(filter));
  }

  function visible() {
    return [...store.forwards.values()].filter(matches);
  }

  function render() {
    const all = [...store.forwards.values()];
    for (const id of [...selected]) if (!store.forwards.has(id)) selected.delete(id);

    // Empty and error states.
    clear(empty);
    empty.hidden = true;
    if (!store.loaded) {
      if (store.conn === 'unauthorized' || store.conn === 'down') {
        empty.hidden = false;
        empty.append(h('p', {}, store.conn === 'down' ? 'No answer from the kftray daemon.' : 'Not signed in.'));
      } else {
        empty.hidden = false;
        empty.append(h('p', {}, 'Loading…'));
      }
    } else if (all.length === 0) {
      empty.hidden = false;
      empty.append(
        h('p', {}, 'No forwards yet.'),
        h('p', {}, 'Add one, or import a kftray JSON file (kftray’s own exports import unchanged).'),
      );
    }

    const shown = visible().sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id);
    if (store.loaded && all.length && !shown.length) {
      empty.hidden = false;
      empty.append(h('p', {}, `No forward matches “${filter}”.`));
    }
    const byCtx = new Map();
    for (const f of shown) {
      const c = f.config || {};
      const ctx = c.context || '';
      const ns = c.namespace || '';
      if (!byCtx.has(ctx)) byCtx.set(ctx, new Map());
      const m = byCtx.get(ctx);
      if (!m.has(ns)) m.set(ns, []);
      m.get(ns).push(f);
    }
    const ctxNames = [...byCtx.keys()].sort((a, b) => (a === '') - (b === '') || a.localeCompare(b));
    const ctxEls = [];
    for (const ctx of ctxNames) {
      const g = group(ctx);
      const nsMap = byCtx.get(ctx);
      const fs = [...nsMap.values()].flat();
      const running = fs.filter((f) => f.status === 'running').length;
      const failing = fs.filter((f) => f.status === 'failed' || f.status === 'retrying').length;
      setText(g.summaryText, ctx || 'current context');
      setText(g.counts, `${running}/${fs.length} running` + (failing ? ` · ${failing} failing` : ''));
      g.details.dataset.context = ctx;
      g.details.classList.toggle('failing', failing > 0);
      const nsEls = [];
      for (const ns of [...nsMap.keys()].sort()) {
        const n = namespace(g, ns);
        const rowEls = [];
        for (const f of nsMap.get(ns)) {
          let r = rows.get(f.id);
          if (!r) {
            r = makeRow(f);
            rows.set(f.id, r);
          }
          updateRow(r, f);
          rowEls.push(r.el);
        }
        n.sec.dataset.namespace = ns;
        syncChildren(n.ul, rowEls);
        nsEls.push(n.sec);
      }
      for (const [ns] of g.namespaces) if (!nsMap.has(ns)) g.namespaces.delete(ns);
      syncChildren(g.body, nsEls);
      ctxEls.push(g.details);
    }
    for (const [ctx] of groups) if (!byCtx.has(ctx)) groups.delete(ctx);
    for (const [id] of rows) if (!store.forwards.has(id)) rows.delete(id);
    syncChildren(list, ctxEls);

    // Selection bar.
    const n = [...selected].length;
    selbar.classList.toggle('has-selection', n > 0);
    setText(selCount, n ? `${n} selected` : 'none selected');
    selbar.hidden = n === 0;
    const vis = shown.length;
    const visSel = shown.filter((f) => selected.has(f.id)).length;
    selAll.checked = vis > 0 && visSel === vis;
    selAll.indeterminate = visSel > 0 && visSel < vis;
    selAll.disabled = vis === 0;
    const canAct = store.conn === 'live';
    for (const id of ['start-all', 'stop-all', 'add-forward', 'import']) {
      const b = document.getElementById(id);
      if (b) b.disabled = !canAct;
    }
  }

  // Close an open row menu when clicking elsewhere.
  const outside = (e) => {
    for (const d of list.querySelectorAll('details.menu[open]')) if (!d.contains(e.target)) d.open = false;
  };
  document.addEventListener('click', outside);

  const unsub = subscribe(render);
  render();
  return {
    unmount() {
      unsub();
      document.removeEventListener('click', outside);
    },
  };
}

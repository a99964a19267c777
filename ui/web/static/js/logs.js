// The daemon log viewer: the last lines of daemon.log at a level, and new
// lines as they are written (GET /v1/logs/daemon?follow=1, SSE).
import { api, query } from './api.js';
import { h, clear } from './dom.js';
import { clock } from './format.js';

export const title = 'Daemon log';

const MAX_LINES = 5000;

export function mount(main) {
  const level = h('select', { id: 'log-level' },
    [['', 'all'], ['debug', 'debug'], ['info', 'info'], ['warn', 'warn'], ['error', 'error']].map(([v, l]) => h('option', { value: v }, l)));
  level.value = 'info';
  const tail = h('select', { id: 'log-tail' }, ['200', '1000', '5000'].map((v) => h('option', { value: v }, v)));
  const follow = h('input', { type: 'checkbox', id: 'log-follow', checked: true });
  const state = h('span', { class: 'log-state', role: 'status', 'aria-live': 'polite' });
  const lines = h('ol', { class: 'log-lines', id: 'log-lines', 'aria-label': 'Daemon log lines', tabindex: '0' });
  main.append(
    h('h1', { class: 'view-title' }, 'Daemon log'),
    h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Log options' },
      h('label', { for: 'log-level' }, 'Level '), level,
      h('label', { for: 'log-tail' }, 'Lines '), tail,
      h('label', { class: 'check' }, follow, ' Follow'),
      state),
    lines,
  );

  let es = null;
  let atBottom = true;
  lines.addEventListener('scroll', () => {
    atBottom = lines.scrollHeight - lines.scrollTop - lines.clientHeight < 30;
  });

  function add(l) {
    const fields = Object.entries(l.fields || {}).map(([k, v]) => h('span', { class: 'kv' }, h('span', { class: 'k' }, k), '=', typeof v === 'string' ? v : JSON.stringify(v)));
    lines.append(h('li', { class: `log ${l.level || 'raw'}` },
      h('time', { datetime: l.time || '' }, l.time ? clock(l.time) : ''),
      h('span', { class: 'lvl' }, l.level || ''),
      h('span', { class: 'msg' }, l.message || ''),
      fields));
    while (lines.children.length > MAX_LINES) lines.firstElementChild.remove();
  }

  function scroll() {
    if (atBottom) lines.scrollTop = lines.scrollHeight;
  }

  async function load() {
    if (es) es.close();
    es = null;
    clear(lines);
    atBottom = true;
    if (follow.checked) {
      state.textContent = 'following…';
      es = new EventSource('/v1/logs/daemon' + query({ follow: 1, level: level.value, tail: tail.value }));
      // The stream starts with the tail: a reconnect sends it again.
      es.addEventListener('open', () => {
        clear(lines);
        state.textContent = 'following';
      });
      es.addEventListener('log', (e) => {
        add(JSON.parse(e.data));
        scroll();
      });
      es.addEventListener('error', () => {
        state.textContent = 'stream ended (daemon stopped?); reconnecting…';
      });
      return;
    }
    state.textContent = 'loading…';
    try {
      const got = await api.daemonLog(level.value, tail.value);
      for (const l of got) add(l);
      state.textContent = `${got.length} lines`;
      scroll();
    } catch (e) {
      state.textContent = e.message;
    }
  }

  level.addEventListener('change', load);
  tail.addEventListener('change', load);
  follow.addEventListener('change', load);
  load();
  return {
    unmount() {
      if (es) es.close();
    },
  };
}

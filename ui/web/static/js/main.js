// The web UI's entry: the connection to the daemon (event stream, session
// state) and the views, chosen by the URL's fragment.
import { api, onAuthError } from './api.js';
import { store, changed, upsert, refresh, sample } from './store.js';
import { h, clear } from './dom.js';
import * as forwards from './forwards.js';
import * as daemonlog from './logs.js';
import * as helper from './helper.js';
import * as settings from './settings.js';

const views = { forwards, log: daemonlog, helper, settings };

let events = null;
let probeTimer = 0;

function setConn(state, detail = '') {
  store.conn = state;
  store.connDetail = detail;
  const el = document.getElementById('conn');
  el.dataset.state = state;
  el.title = el.firstElementChild.textContent = {
    connecting: 'connecting…',
    live: 'live',
    down: 'daemon not answering',
    stopping: 'daemon stopped',
    unauthorized: 'signed out',
  }[state];
  const banner = document.getElementById('banner');
  const msg = {
    down: ['The kftray daemon is not answering (stopped?). This page reconnects if it comes back; a new daemon has a new address: start it with ',
      h('code', {}, 'kftray daemon start'), ' and open the page again with ', h('code', {}, 'kftray ui'), '.'],
    stopping: ['The kftray daemon stopped, and its forwards with it (they are restored at its next start). Start it with ',
      h('code', {}, 'kftray daemon start'), ' and open the page again with ', h('code', {}, 'kftray ui'), ' (each daemon has its own address and sessions).'],
    unauthorized: [detail || 'This browser has no kftray session. ', ' Open the web UI with ', h('code', {}, 'kftray ui'), ' in a terminal.'],
  }[state];
  clear(banner);
  if (msg) {
    banner.append(...msg);
    banner.dataset.state = state;
  }
  banner.hidden = !msg;
  changed();
}

function connect() {
  if (events) events.close();
  events = new EventSource('/v1/events');
  events.addEventListener('open', async () => {
    setConn('live');
    try {
      store.status = await api.status();
      await refresh();
    } catch {
      /* the error handlers set the state */
    }
  });
  events.addEventListener('forward', (e) => {
    const ev = JSON.parse(e.data);
    if (ev.forward) upsert(ev.forward);
  });
  events.addEventListener('shutdown', () => {
    events.close();
    events = null;
    setConn('stopping');
    probeLater(1000);
  });
  events.addEventListener('error', () => {
    // EventSource would retry on its own, but cannot tell a stopped
    // daemon from an ended session: ask.
    if (events) events.close();
    events = null;
    probe();
  });
}

async function probe() {
  clearTimeout(probeTimer);
  try {
    store.status = await api.status();
    connect();
  } catch (e) {
    if (e.status === 401) return; // onAuthError set the state
    if (store.conn !== 'stopping' || e.status !== 0) setConn('down', e.message);
    probeLater(2000);
  }
}

function probeLater(ms) {
  clearTimeout(probeTimer);
  probeTimer = setTimeout(probe, ms);
}

onAuthError(
  (err) => {
    if (events) events.close();
    events = null;
    clearTimeout(probeTimer);
    setConn('unauthorized', err.message.replace(/;.*$/, '.'));
  },
  () => {
    if (store.conn === 'live') setConn('down');
  },
);

// Routing: #/forwards, #/log, #/helper, #/settings.
let current = null;

function route() {
  const name = (location.hash.match(/^#\/([a-z]+)/) || [])[1] || 'forwards';
  const view = views[name] || forwards;
  for (const a of document.querySelectorAll('nav.views a')) {
    if (a.dataset.view === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (current && current.unmount) current.unmount();
  const main = document.getElementById('main');
  clear(main);
  current = view.mount(main) || null;
  document.title = `kftray · ${view.title}`;
}

window.addEventListener('hashchange', () => {
  route();
  document.getElementById('main').focus({ preventScroll: true });
});

// Keyboard: "/" searches, "n" adds a forward (when not typing).
document.addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement || document.querySelector('dialog[open]')) return;
  if (e.key === '/') {
    const f = document.getElementById('filter');
    if (f) {
      e.preventDefault();
      f.focus();
    }
  } else if (e.key === 'n') {
    const add = document.getElementById('add-forward');
    if (add) {
      e.preventDefault();
      add.click();
    }
  }
});

route();
probe();
setInterval(() => sample(), 1000);
// Configs that other interfaces add, edit or delete: the event stream
// carries states, so read the list again now and then.
setInterval(() => {
  if (store.conn === 'live' && !document.hidden) refresh().catch(() => {});
}, 10000);
document.addEventListener('visibilitychange', () => {
  if (!document.hidden && store.conn === 'live') refresh().catch(() => {});
});

// The page's one state: the forwards as the daemon reports them, the
// connection to it, and per-forward throughput history.
import { api } from './api.js';

export const store = {
  forwards: new Map(), // id -> Forward (docs/api.md)
  loaded: false,
  conn: 'connecting', // connecting | live | down | stopping | unauthorized
  connDetail: '',
  status: null, // the daemon's Status
  rates: new Map(), // id -> [bytes per second], oldest first
};

export const HISTORY = 60; // samples (seconds) in a sparkline

const subs = new Set();

export function subscribe(fn) {
  subs.add(fn);
  return () => subs.delete(fn);
}

let pending = false;

// changed tells the views, once per burst of events.
export function changed() {
  if (pending) return;
  pending = true;
  setTimeout(() => {
    pending = false;
    for (const fn of subs) fn();
  }, 30);
}

// upsert merges one forward from an event or a listing.
export function upsert(f) {
  const old = store.forwards.get(f.id);
  // A state event for a config the daemon no longer holds in memory
  // carries only its id and alias: keep the config we know.
  if (old && (!f.config || !f.config.namespace)) f = { ...f, config: old.config, name: old.name };
  store.forwards.set(f.id, f);
  changed();
}

export function replaceAll(list) {
  const ids = new Set(list.map((f) => f.id));
  for (const id of store.forwards.keys()) {
    if (!ids.has(id)) {
      store.forwards.delete(id);
      store.rates.delete(id);
    }
  }
  for (const f of list) store.forwards.set(f.id, f);
  store.loaded = true;
  changed();
}

// refresh reads every forward again: configs added, edited or deleted by
// another interface show up (the event stream carries state changes).
export async function refresh() {
  replaceAll(await api.forwards());
}

const last = new Map(); // id -> {t, total}

// sample records each forward's throughput since the last sample.
export function sample(now = performance.now()) {
  for (const [id, f] of store.forwards) {
    const total = (f.bytes_to_pod || 0) + (f.bytes_from_pod || 0);
    const prev = last.get(id);
    last.set(id, { t: now, total });
    const series = store.rates.get(id) || [];
    let r = 0;
    if (prev && now > prev.t && total >= prev.total) r = ((total - prev.total) * 1000) / (now - prev.t);
    series.push(r);
    if (series.length > HISTORY) series.shift();
    store.rates.set(id, series);
  }
  changed();
}

// Formatting of numbers, sizes and times for people.

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function bytes(n) {
  n = Number(n) || 0;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

export function rate(bps) {
  return `${bytes(Math.round(bps))}/s`;
}

export function plural(n, one, many) {
  return `${n} ${n === 1 ? one : (many || one + 's')}`;
}

export function ago(t) {
  if (!t) return '';
  const d = (Date.now() - new Date(t).getTime()) / 1000;
  if (!isFinite(d)) return '';
  if (d < 0) return 'in ' + span(-d);
  return span(d) + ' ago';
}

export function until(t) {
  if (!t) return '';
  const d = (new Date(t).getTime() - Date.now()) / 1000;
  return d <= 0 ? 'now' : 'in ' + span(d);
}

function span(s) {
  if (s < 1) return 'just now';
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

export function clock(t) {
  const d = new Date(t);
  if (isNaN(d)) return '';
  return d.toLocaleTimeString(undefined, { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

// target says what a config forwards to, the way the CLI lists it.
export function target(cfg) {
  if (!cfg) return '';
  const port = cfg.remote_port ? `:${cfg.remote_port}` : '';
  switch (cfg.workload_type) {
    case 'service': return `svc/${cfg.service || '?'}${port}`;
    case 'pod': return `pod ${cfg.target || '?'}${port}`;
    case 'proxy': return `${cfg.remote_address || '?'}${port} via relay`;
    case 'expose': return `expose :${cfg.local_port || '?'}`;
    default: return cfg.workload_type || '';
  }
}

// The daemon's /v1 JSON API (docs/api.md), called with the session cookie.
// Every call carries X-Kftray: 1: the daemon refuses a browser's
// state-changing call without it (a custom header cannot be sent
// cross-origin without a CORS preflight, which it never grants).

export class APIError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.fields = (body && body.fields) || [];
  }
}

const handlers = { unauthorized: () => {}, unreachable: () => {} };

// onAuthError sets what happens when the session is gone (401) or the
// daemon does not answer.
export function onAuthError(unauthorized, unreachable) {
  handlers.unauthorized = unauthorized;
  handlers.unreachable = unreachable;
}

export async function call(method, path, body, { raw = false, headers = {} } = {}) {
  const init = { method, headers: { 'X-Kftray': '1', ...headers }, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch('/v1' + path, init);
  } catch (e) {
    handlers.unreachable(e);
    throw new APIError(0, { error: 'the kftray daemon does not answer; start it with: kftray daemon start' });
  }
  const text = resp.status === 204 ? '' : await resp.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = raw ? text : { error: text }; }
  }
  if (!resp.ok) {
    const err = new APIError(resp.status, data && typeof data === 'object' ? data : { error: text });
    if (resp.status === 401) handlers.unauthorized(err);
    throw err;
  }
  return raw ? { data, text, headers: resp.headers } : data;
}

export const api = {
  status: () => call('GET', '/status'),
  forwards: () => call('GET', '/forwards'),
  start: (sel) => call('POST', '/forwards/start', sel),
  stop: (sel) => call('POST', '/forwards/stop', sel),
  restart: (sel) => call('POST', '/forwards/restart', sel),
  config: async (ref) => {
    const r = await call('GET', '/configs/' + encodeURIComponent(ref), undefined, { raw: true });
    return { config: r.data, etag: r.headers.get('ETag') || '' };
  },
  createConfig: (cfg) => call('POST', '/configs', cfg),
  updateConfig: (ref, cfg, etag) => call('PUT', '/configs/' + encodeURIComponent(ref), cfg, { headers: etag ? { 'If-Match': etag } : {} }),
  validateConfig: (cfg) => call('POST', '/configs/validate', cfg),
  deleteConfig: (ref) => call('DELETE', '/configs/' + encodeURIComponent(ref)),
  importConfigs: (text) => call('POST', '/configs/import', text),
  contexts: (kubeconfig) => call('GET', '/cluster/contexts' + query({ kubeconfig })),
  namespaces: (ref) => call('GET', '/cluster/namespaces' + query(ref)),
  services: (ref, namespace) => call('GET', '/cluster/services' + query({ ...ref, namespace })),
  pods: (ref, namespace, selector) => call('GET', '/cluster/pods' + query({ ...ref, namespace, selector })),
  helper: () => call('GET', '/helper'),
  settings: () => call('GET', '/settings'),
  setSetting: (key, value) => call('PUT', '/settings/' + encodeURIComponent(key), { value: String(value) }),
  daemonLog: (level, tail) => call('GET', '/logs/daemon' + query({ level, tail })),
  logout: () => call('POST', '/ui/logout', {}),
};

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

// The config form (add, edit, duplicate): the daemon validates it
// (POST /v1/configs/validate) and each problem shows next to its field;
// context, namespace, service, selector and port come with suggestions
// from the cluster, and can always be typed (a 403 says so).
import { api } from './api.js';
import { refresh } from './store.js';
import { h, clear } from './dom.js';
import { toast } from './ui.js';

const ALL = ['service', 'pod', 'proxy', 'expose'];

const FIELDS = [
  { name: 'alias', label: 'Name', hint: 'What the forward is called; with “Hostname” on, the hostname too (e.g. api.dev.test).' },
  { name: 'workload_type', label: 'Forward to', kind: 'select', options: [['service', 'a Service'], ['pod', 'pods by label'], ['proxy', 'a remote host (through a relay)'], ['expose', 'nothing: expose a local port to the cluster']] },
  { name: 'protocol', label: 'Protocol', kind: 'select', options: [['tcp', 'TCP'], ['udp', 'UDP']] },
  { name: 'kubeconfig', label: 'Kubeconfig', hint: 'Path list as in KUBECONFIG; empty: the daemon’s default.' },
  { name: 'context', label: 'Context', picker: true, hint: 'Empty: the kubeconfig’s current context.' },
  { name: 'namespace', label: 'Namespace', picker: true },
  { name: 'service', label: 'Service', picker: true, types: ['service'] },
  { name: 'target', label: 'Pod selector', picker: true, types: ['pod'], hint: 'A label selector, e.g. app=web.' },
  { name: 'remote_address', label: 'Remote host', types: ['proxy'], hint: 'Host or IP reached from inside the cluster.' },
  { name: 'remote_port', label: 'Remote port', kind: 'number', picker: true, types: ['service', 'pod', 'proxy'] },
  { name: 'local_port', label: 'Local port', kind: 'number', hint: 'Empty: a free port is picked when it starts.' },
  { name: 'local_address', label: 'Local address', hint: 'Empty: 127.0.0.1.' },
  { name: 'auto_loopback_address', label: 'Own loopback address (127.0.0.x, needs the helper)', kind: 'checkbox' },
  { name: 'domain_enabled', label: 'Hostname in /etc/hosts (the name above; needs the helper)', kind: 'checkbox' },
  { name: 'http_logs_enabled', label: 'Log HTTP traffic', kind: 'checkbox' },
  { group: 'HTTP log files', fields: [
    { name: 'http_logs_max_file_size', label: 'Max file size (bytes)', kind: 'number' },
    { name: 'http_logs_retention_days', label: 'Keep for (days)', kind: 'number' },
    { name: 'http_logs_auto_cleanup', label: 'Delete old logs automatically', kind: 'checkbox' },
  ] },
  { group: 'Exposure', types: ['expose'], fields: [
    { name: 'exposure_type', label: 'Exposure', kind: 'select', options: [['', '(default)'], ['public', 'public'], ['internal', 'internal']] },
    { name: 'cert_manager_enabled', label: 'TLS certificate from cert-manager', kind: 'checkbox' },
    { name: 'cert_issuer', label: 'Certificate issuer' },
    { name: 'cert_issuer_kind', label: 'Issuer kind' },
    { name: 'ingress_class', label: 'Ingress class' },
  ] },
];

const flat = FIELDS.flatMap((f) => (f.group ? f.fields.map((x) => ({ ...x, types: x.types || f.types })) : [f]));
const byName = new Map(flat.map((f) => [f.name, f]));

let dlg = null;
let els = null; // name -> {input, wrap, err, list, status}

function build() {
  els = new Map();
  const formError = h('div', { class: 'form-error', role: 'alert', hidden: true, id: 'form-error' });
  const titleEl = h('h2', { id: 'form-title' });
  const form = h('form', { class: 'dialog-body cfg-form', novalidate: true, method: 'dialog' }, titleEl, formError);
  const field = (f) => {
    const id = `f-${f.name}`;
    let input;
    if (f.kind === 'select') {
      input = h('select', { id, name: f.name }, f.options.map(([v, l]) => h('option', { value: v }, l)));
    } else if (f.kind === 'checkbox') {
      input = h('input', { id, name: f.name, type: 'checkbox' });
    } else {
      input = h('input', { id, name: f.name, type: f.kind === 'number' ? 'number' : 'text', autocomplete: 'off', spellcheck: 'false',
        inputmode: f.kind === 'number' ? 'numeric' : null, min: f.kind === 'number' ? '0' : null });
    }
    const err = h('p', { class: 'err', id: `${id}-err`, hidden: true });
    const hint = f.hint ? h('p', { class: 'hint', id: `${id}-hint` }, f.hint) : null;
    let list = null;
    let status = null;
    if (f.picker) {
      list = h('datalist', { id: `${id}-list` });
      input.setAttribute('list', list.id);
      status = h('p', { class: 'picker-status', id: `${id}-status`, 'aria-live': 'polite' });
    }
    input.setAttribute('aria-describedby', [hint && hint.id, status && status.id, err.id].filter(Boolean).join(' '));
    const label = h('label', { for: id }, f.label);
    const wrap = f.kind === 'checkbox'
      ? h('div', { class: 'field check', dataset: { field: f.name } }, input, label, hint, err)
      : h('div', { class: 'field', dataset: { field: f.name } }, label, input, list, hint, status, err);
    els.set(f.name, { input, wrap, err, list, status, def: f });
    return wrap;
  };
  for (const f of FIELDS) {
    if (f.group) {
      const fs = h('fieldset', { class: 'group', dataset: { group: f.group } }, h('legend', {}, f.group), f.fields.map(field));
      if (f.types) fs.dataset.types = f.types.join(' ');
      form.append(fs);
    } else {
      form.append(field(f));
    }
  }
  const cancel = h('button', { type: 'button', id: 'form-cancel' }, 'Cancel');
  const save = h('button', { type: 'submit', class: 'primary', id: 'form-save' }, 'Save');
  form.append(h('div', { class: 'actions' }, cancel, save));
  dlg = h('dialog', { id: 'config-dialog', class: 'wide', 'aria-labelledby': 'form-title' }, form);
  document.body.append(dlg);
  cancel.addEventListener('click', () => dlg.close('cancel'));
  return { form, titleEl, formError, save };
}

let parts = null;
let session = null; // the form being edited

export async function openForm({ mode, id }) {
  if (!dlg) parts = build();
  const { form, titleEl, formError, save } = parts;
  const s = { mode, id, etag: '', base: {}, touched: new Set(), timer: 0, gen: 0, ports: [] };
  session = s;
  clearErrors();
  formError.hidden = true;
  save.disabled = false;
  let base = { workload_type: 'service', protocol: 'tcp', http_logs_auto_cleanup: true };
  if (mode === 'add') {
    try {
      const st = await api.settings();
      base.http_logs_enabled = st.http_logs_default_enabled === 'true';
    } catch {
      /* the default stays off */
    }
  } else {
    try {
      const r = await api.config(String(id));
      base = r.config;
      s.etag = r.etag;
    } catch (e) {
      toast(`Cannot read config ${id}: ${e.message}`, { kind: 'error' });
      return;
    }
    if (mode === 'duplicate') {
      delete base.id;
      if (base.alias) base.alias = `${base.alias}-copy`;
    }
  }
  s.base = base;
  titleEl.textContent = mode === 'edit' ? `Edit ${base.alias || base.service || base.target || 'config ' + id}` : mode === 'duplicate' ? 'Duplicate a forward' : 'Add a forward';
  save.textContent = mode === 'edit' ? 'Save' : 'Add';
  for (const [name, e] of els) {
    const v = base[name];
    if (e.def.kind === 'checkbox') e.input.checked = !!v;
    else if (e.def.kind === 'number') e.input.value = v ? String(v) : '';
    else e.input.value = v == null ? '' : String(v);
    if (e.list) clear(e.list);
    if (e.status) e.status.textContent = '';
  }
  if (!els.get('http_logs_max_file_size').input.value) els.get('http_logs_max_file_size').input.value = String(10 << 20);
  if (!els.get('http_logs_retention_days').input.value) els.get('http_logs_retention_days').input.value = '7';
  showTypes();
  form.onsubmit = (e) => {
    e.preventDefault();
    submit(s);
  };
  form.oninput = (e) => touch(s, e.target.name, false);
  form.onchange = (e) => {
    const name = e.target.name;
    touch(s, name, true);
    if (name === 'workload_type') {
      showTypes();
      loadWorkloads(s);
    }
    if (name === 'kubeconfig') loadContexts(s);
    if (name === 'context') loadNamespaces(s);
    if (name === 'namespace') loadWorkloads(s);
    if (name === 'service') servicePorts(s);
    if (name === 'target') loadPods(s, true);
  };
  dlg.showModal();
  els.get('alias').input.focus();
  loadContexts(s);
}

function showTypes() {
  const t = els.get('workload_type').input.value;
  for (const [, e] of els) {
    const types = e.def.types;
    e.wrap.hidden = !!types && !types.includes(t);
  }
  for (const fs of dlg.querySelectorAll('fieldset[data-types]')) fs.hidden = !fs.dataset.types.split(' ').includes(t);
}

// collect reads the form into a config (kftray JSON), keeping the fields
// the form does not show (ingress_annotations, ...).
function collect(s) {
  const cfg = { ...s.base };
  for (const [name, e] of els) {
    if (e.def.kind === 'checkbox') cfg[name] = e.input.checked;
    else if (e.def.kind === 'number') {
      const v = e.input.value.trim();
      if (v === '') delete cfg[name];
      else cfg[name] = Number(v);
    } else {
      const v = e.input.value.trim();
      if (v === '') delete cfg[name];
      else cfg[name] = v;
    }
  }
  if (s.mode !== 'edit') delete cfg.id;
  return cfg;
}

function clearErrors(only) {
  if (!els) return;
  for (const [name, e] of els) {
    if (only && !only.has(name)) continue;
    e.err.hidden = true;
    e.err.textContent = '';
    e.input.removeAttribute('aria-invalid');
    e.wrap.classList.remove('invalid');
  }
}

// showErrors puts each problem next to its field; those without a field
// on the form go to the top. Returns the first invalid input.
function showErrors(fields, only) {
  const { formError } = parts;
  const general = [];
  let first = null;
  for (const { field, problem } of fields) {
    const e = els.get(field);
    if (!e || e.wrap.hidden) {
      if (!only) general.push(`${field}: ${problem}`);
      continue;
    }
    if (only && !only.has(field)) continue;
    e.err.hidden = false;
    e.err.textContent = e.err.textContent ? `${e.err.textContent}; ${problem}` : problem;
    e.input.setAttribute('aria-invalid', 'true');
    e.wrap.classList.add('invalid');
    if (!first) first = e.input;
  }
  if (!only) {
    formError.hidden = general.length === 0;
    formError.textContent = general.join('\n');
  }
  return first;
}

function touch(s, name, now) {
  if (!byName.has(name)) return;
  s.touched.add(name);
  clearTimeout(s.timer);
  s.timer = setTimeout(() => liveValidate(s), now ? 150 : 600);
}

// liveValidate checks the form as it is typed, showing the problems of
// the fields already touched.
async function liveValidate(s) {
  if (s !== session || !dlg.open) return;
  const gen = ++s.gen;
  const cfg = collect(s);
  let fields = [];
  try {
    await api.validateConfig(cfg);
  } catch (e) {
    if (e.status !== 400) return;
    fields = e.fields;
  }
  if (gen !== s.gen || s !== session) return;
  clearErrors(s.touched);
  showErrors(fields, s.touched);
}

async function submit(s) {
  const { formError, save } = parts;
  s.gen++;
  clearTimeout(s.timer);
  clearErrors();
  formError.hidden = true;
  const cfg = collect(s);
  save.disabled = true;
  try {
    try {
      await api.validateConfig(cfg);
    } catch (e) {
      if (e.status === 400 && e.fields.length) {
        const first = showErrors(e.fields);
        (first || formError).focus?.();
        return;
      }
      throw e;
    }
    let msg;
    if (s.mode === 'edit') {
      const res = await api.updateConfig(String(s.id), cfg, s.etag);
      msg = `Saved ${cfg.alias || 'config ' + s.id}` + (res.restarted ? '; its forward restarted with the change' : '');
    } else {
      const res = await api.createConfig(cfg);
      msg = `Added ${cfg.alias || 'config ' + res.id}`;
    }
    dlg.close('saved');
    toast(msg, { kind: 'ok' });
    await refresh();
  } catch (e) {
    if (e.status === 400 && e.fields.length) {
      (showErrors(e.fields) || formError).focus?.();
    } else if (e.status === 409) {
      formError.hidden = false;
      formError.textContent = `Someone changed this config since you opened it. Close and edit it again to see their change. (${e.message})`;
    } else {
      formError.hidden = false;
      formError.textContent = e.message;
    }
  } finally {
    save.disabled = false;
  }
}

// --- cluster pickers

function ref() {
  return { kubeconfig: els.get('kubeconfig').input.value.trim(), context: els.get('context').input.value.trim() };
}

function options(name, items) {
  const e = els.get(name);
  clear(e.list);
  for (const [value, label] of items) e.list.append(h('option', { value: String(value) }, label || ''));
}

// pick runs one listing and says how it went under the field. A refusal
// (403) or an unreachable cluster never blocks typing the value.
async function pick(s, name, what, fetch, fill) {
  const e = els.get(name);
  e.status.textContent = `Looking up ${what}…`;
  e.status.dataset.state = 'loading';
  try {
    const list = await fetch();
    if (s !== session) return null;
    fill(list);
    e.status.textContent = list.length ? `${list.length === 1 ? `1 ${what.replace(/s$/, '')}` : `${list.length} ${what}`} in the cluster; type or pick one.` : `No ${what} found; type it.`;
    e.status.dataset.state = 'ok';
    return list;
  } catch (err) {
    if (s !== session) return null;
    clear(e.list);
    e.status.dataset.state = 'error';
    if (err.status === 403) e.status.textContent = `Not allowed to list ${what}: type it. (${err.message.split(';')[0]})`;
    else if (err.status === 502) e.status.textContent = `Cluster unreachable: type it. (${err.message})`;
    else e.status.textContent = `Cannot list ${what}: ${err.message}`;
    return null;
  }
}

async function loadContexts(s) {
  const list = await pick(s, 'context', 'contexts', () => api.contexts(ref().kubeconfig), (l) =>
    options('context', l.map((c) => [c.name, `${c.cluster || ''}${c.namespace ? ' · ' + c.namespace : ''}${c.current ? ' (current)' : ''}`])));
  if (list) {
    const ns = els.get('namespace').input;
    const cur = list.find((c) => c.name === ref().context || (!ref().context && c.current));
    if (!ns.value && cur && cur.namespace && s.mode === 'add') ns.placeholder = cur.namespace;
  }
  loadNamespaces(s);
}

async function loadNamespaces(s) {
  await pick(s, 'namespace', 'namespaces', () => api.namespaces(ref()), (l) => options('namespace', l.map((n) => [n.name, n.phase])));
  loadWorkloads(s);
}

function loadWorkloads(s) {
  const t = els.get('workload_type').input.value;
  if (t === 'service') loadServices(s);
  else if (t === 'pod') loadPods(s, false);
}

async function loadServices(s) {
  const ns = els.get('namespace').input.value.trim();
  if (!ns) {
    els.get('service').status.textContent = 'Choose a namespace to see its Services.';
    return;
  }
  s.services = await pick(s, 'service', 'Services', () => api.services(ref(), ns), (l) =>
    options('service', l.map((x) => [x.name, `${x.type}${x.headless ? ' headless' : ''} · ${x.ports.map((p) => p.port + (p.name ? '/' + p.name : '')).join(', ')}`])));
  servicePorts(s);
}

function servicePorts(s) {
  const name = els.get('service').input.value.trim();
  const svc = (s.services || []).find((x) => x.name === name);
  const e = els.get('remote_port');
  if (!svc) {
    clear(e.list);
    e.status.textContent = '';
    return;
  }
  options('remote_port', svc.ports.map((p) => [p.port, `${p.name || ''} → ${p.target_port} ${p.protocol}`]));
  e.status.textContent = `Ports of ${svc.name}: ${svc.ports.map((p) => p.port).join(', ')}`;
  if (!e.input.value && svc.ports.length === 1) e.input.value = String(svc.ports[0].port);
}

async function loadPods(s, withSelector) {
  const ns = els.get('namespace').input.value.trim();
  if (!ns) {
    els.get('target').status.textContent = 'Choose a namespace to see its pods’ labels.';
    return;
  }
  const sel = withSelector ? els.get('target').input.value.trim() : '';
  const pods = await pick(s, 'target', 'pods', () => api.pods(ref(), ns, sel), (l) => {
    if (withSelector && sel) return;
    const labels = new Map();
    for (const p of l) for (const [k, v] of Object.entries(p.labels || {})) labels.set(`${k}=${v}`, (labels.get(`${k}=${v}`) || 0) + 1);
    options('target', [...labels].sort().map(([kv, n]) => [kv, `${n} pod${n === 1 ? '' : 's'}`]));
  });
  if (pods && sel) {
    const ports = new Map();
    for (const p of pods) for (const cp of p.ports || []) ports.set(cp.port, `${cp.name || ''} ${cp.protocol}`);
    options('remote_port', [...ports]);
    els.get('remote_port').status.textContent = pods.length ? `${pods.length} pod(s) match; their ports: ${[...ports.keys()].join(', ') || 'none declared'}` : 'No pod matches this selector yet.';
  }
}

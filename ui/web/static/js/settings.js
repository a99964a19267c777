// Settings (GET/PUT /v1/settings): booleans as switches, the rest as text.
import { api } from './api.js';
import { h, clear } from './dom.js';
import { toast } from './ui.js';

export const title = 'Settings';

// Words for the known keys (fwdconfig.KnownSettings); unknown keys show
// as they are.
const labels = {
  http_logs_default_enabled: ['Log HTTP traffic by default', 'For forwards whose config does not say; new forwards start with it.'],
  notifications_enabled: ['Desktop notifications', 'The tray tells when a forward fails or recovers after retrying.'],
  mcp_server_enabled: ['MCP server for AI assistants', 'Serve kftray’s MCP endpoint on 127.0.0.1 (behind the API token); see docs/mcp.md.'],
  mcp_server_port: ['MCP server port', '0 picks a free port (written to mcp.addr).'],
};

export function mount(main) {
  const form = h('form', { class: 'panel settings', id: 'settings', novalidate: true }, h('p', {}, 'Loading…'));
  main.append(h('h1', { class: 'view-title' }, 'Settings'), form);
  form.addEventListener('submit', (e) => e.preventDefault());

  async function save(key, value, err) {
    err.hidden = true;
    try {
      await api.setSetting(key, value);
      toast(`Saved ${labels[key] ? labels[key][0] : key}`, { kind: 'ok' });
      return true;
    } catch (e) {
      err.hidden = false;
      err.textContent = e.message;
      return false;
    }
  }

  async function load() {
    let m;
    try {
      m = await api.settings();
    } catch (e) {
      clear(form).append(h('p', { class: 'err' }, e.message));
      return;
    }
    clear(form);
    for (const key of Object.keys(m).sort()) {
      const [label, help] = labels[key] || [key, ''];
      const id = `s-${key}`;
      const err = h('p', { class: 'err', id: `${id}-err`, hidden: true });
      const hint = help ? h('p', { class: 'hint', id: `${id}-hint` }, help) : null;
      const described = [hint && hint.id, err.id].filter(Boolean).join(' ');
      const v = m[key];
      if (v === 'true' || v === 'false') {
        const input = h('input', { type: 'checkbox', id, name: key, checked: v === 'true', 'aria-describedby': described });
        input.addEventListener('change', async () => {
          if (!(await save(key, input.checked, err))) input.checked = !input.checked;
        });
        form.append(h('div', { class: 'field check', dataset: { setting: key } }, input, h('label', { for: id }, label), hint, err));
      } else {
        const input = h('input', { type: 'text', id, name: key, value: v, 'aria-describedby': described });
        const btn = h('button', { type: 'button' }, 'Save');
        btn.addEventListener('click', () => save(key, input.value, err));
        form.append(h('div', { class: 'field', dataset: { setting: key } }, h('label', { for: id }, label), h('div', { class: 'row' }, input, btn), hint, err));
      }
    }
    if (!Object.keys(m).length) form.append(h('p', {}, 'No settings.'));
  }
  load();
}

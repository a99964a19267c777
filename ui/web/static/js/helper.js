// The root helper's status and the command that installs it: the page
// shows it, never runs it (it asks for root).
import { api } from './api.js';
import { h, clear } from './dom.js';
import { toast } from './ui.js';

export const title = 'Helper';

export function mount(main) {
  const body = h('div', { class: 'panel', id: 'helper' }, h('p', {}, 'Loading…'));
  const reload = h('button', { type: 'button', id: 'helper-reload' }, 'Check again');
  main.append(h('h1', { class: 'view-title' }, 'Root helper'),
    h('p', { class: 'lead' }, 'The helper binds low ports and loopback addresses and writes hostnames to /etc/hosts for the forwards that need it. It is installed once, as root.'),
    body, h('div', { class: 'toolbar' }, reload));

  async function load() {
    let st;
    try {
      st = await api.helper();
    } catch (e) {
      clear(body).append(h('p', { class: 'err' }, e.message));
      return;
    }
    const yes = (b) => (b ? 'yes' : 'no');
    const rows = [
      ['Installed', yes(st.installed)],
      ['Version', st.version || '—'],
      ['Needed version', st.want || 'any (development build)'],
      ['Up to date', yes(st.up_to_date)],
      ['Allowed for you', yes(st.allowed)],
      ['Service', st.service || '—'],
      ['Needed by', st.needed_by && st.needed_by.length ? st.needed_by.join(', ') : 'no config'],
    ];
    clear(body).append(h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', { dataset: { fact: k } }, v)])));
    if (st.error) body.append(h('p', { class: 'err' }, st.error));
    if (st.install_command) {
      const copy = h('button', { type: 'button', id: 'copy-install' }, 'Copy');
      copy.addEventListener('click', async () => {
        try {
          await navigator.clipboard.writeText(st.install_command);
          toast('Copied the command; paste it in a terminal.', { kind: 'ok' });
        } catch {
          toast('Could not copy; select the command and copy it.', { kind: 'error' });
        }
      });
      body.append(h('p', {}, 'Run this in a terminal (it asks for your password):'),
        h('div', { class: 'command' }, h('code', { id: 'install-command' }, st.install_command), copy));
    } else {
      body.append(h('p', { class: 'ok' }, 'Nothing to do.'));
    }
  }
  reload.addEventListener('click', load);
  load();
}

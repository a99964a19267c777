// Page furniture shared by the views: toasts, the confirm dialog.
import { h } from './dom.js';

export function toast(message, { kind = 'info', sticky = kind === 'error' } = {}) {
  const box = document.getElementById('toasts');
  const close = h('button', { type: 'button', class: 'icon', 'aria-label': 'Dismiss' }, '×');
  const el = h('div', { class: `toast ${kind}` }, h('pre', {}, message), close);
  close.addEventListener('click', () => el.remove());
  box.append(el);
  while (box.children.length > 5) box.firstElementChild.remove();
  if (!sticky) setTimeout(() => el.remove(), 6000);
  return el;
}

// confirmDialog asks a yes/no question in a modal dialog.
export function confirmDialog(title, text, okLabel = 'OK') {
  const dlg = document.getElementById('confirm-dialog');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = okLabel;
  dlg.returnValue = '';
  dlg.showModal();
  document.getElementById('confirm-cancel').focus();
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
  });
}

// resultErrors turns a start/stop/restart answer into one message, or ''.
export function resultErrors(res) {
  const bad = (res && res.results ? res.results : []).filter((r) => r.error);
  return bad.map((r) => `${r.ref}: ${r.error}`).join('\n');
}

// Tiny DOM helpers: build elements without innerHTML (nothing the daemon
// sends is ever parsed as HTML).

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';

export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.setAttribute('class', v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// setText changes a node's text only when it differs (no needless
// mutations for screen readers and live regions).
export function setText(el, text) {
  text = text == null ? '' : String(text);
  if (el.textContent !== text) el.textContent = text;
}

// syncChildren makes parent's children exactly nodes, in order, moving
// only what is out of place so that focus inside unmoved nodes stays.
export function syncChildren(parent, nodes) {
  const active = document.activeElement;
  for (let i = 0; i < nodes.length; i++) {
    const want = nodes[i];
    if (parent.children[i] !== want) parent.insertBefore(want, parent.children[i] || null);
  }
  while (parent.children.length > nodes.length) parent.lastElementChild.remove();
  if (active && active !== document.activeElement && active.isConnected) active.focus();
}

let uid = 0;
export function newID(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

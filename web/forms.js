// Forms built from the server's OpenAPI document: one per admin operation, so a route added to
// the server appears in the teacher's console with no change here.

import { api, el, resolve, say, table } from './common.js';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
/** Operations that undo work take a second click. */
const CONFIRM_MS = 4000;

/** The first non-null type of a schema (`type` may be a list in OpenAPI 3.1). */
function typeOf(s) {
  return Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
}

/** Merges `allOf` parts into one object schema. */
function flatten(doc, schema) {
  const s = resolve(doc, schema);
  if (!s.allOf) return s;
  const parts = s.allOf.map((p) => flatten(doc, p));
  return {
    ...s,
    type: 'object',
    properties: Object.assign({}, ...parts.map((p) => p.properties || {}), s.properties || {}),
    required: parts.flatMap((p) => p.required || []).concat(s.required || []),
  };
}

/** The label of a variant of a `oneOf`: its title, or the value of its one-value enum (a tag). */
function variantName(variant, i) {
  if (variant.title) return variant.title;
  for (const [key, p] of Object.entries(variant.properties || {})) {
    if (p.enum?.length === 1) return `${p.enum[0]}`;
    if (key && p.const !== undefined) return `${p.const}`;
  }
  return typeOf(variant) || `option ${i + 1}`;
}

/**
 * An input for one value of `schema`: `{node, read}`, where `read()` gives the value to send, or
 * undefined when the field was left empty (and so is left out).
 */
export function field(doc, name, schema, required) {
  const s = flatten(doc, schema);
  const label = (control, hint = s.description) => el('label', { class: 'field' },
    el('span', {}, `${name}${required ? ' *' : ''}`), control, hint ? el('small', { class: 'muted' }, hint) : null);
  const choices = s.oneOf || s.anyOf;
  if (choices) {
    const variants = choices.map((v) => flatten(doc, v)).filter((v) => typeOf(v) !== 'null' || v.properties);
    if (variants.length === 1) return field(doc, name, { ...variants[0], description: s.description }, required);
    if (variants.every((v) => v.enum)) return field(doc, name, { ...s, oneOf: undefined, enum: variants.flatMap((v) => v.enum) }, required);
    return variantField(doc, name, variants, required, label);
  }
  if (s.const !== undefined || s.enum?.length === 1) {
    const value = s.const ?? s.enum[0];
    return { node: el('input', { type: 'hidden', name, value: String(value) }), read: () => value };
  }
  const type = typeOf(s);
  if (s.enum) {
    const select = el('select', { name }, required ? null : el('option', { value: '' }, '—'),
      ...s.enum.filter((v) => v !== null).map((v) => el('option', { value: String(v) }, String(v))));
    return { node: label(select), read: () => (select.value === '' ? undefined : s.enum.find((v) => String(v) === select.value)) };
  }
  if (type === 'boolean') {
    const select = el('select', { name }, required ? null : el('option', { value: '' }, '—'),
      el('option', { value: 'true' }, 'yes'), el('option', { value: 'false' }, 'no'));
    return { node: label(select), read: () => (select.value === '' ? undefined : select.value === 'true') };
  }
  if (type === 'integer' || type === 'number') {
    const input = el('input', { name, type: 'number', step: type === 'integer' ? '1' : 'any', required,
      placeholder: s.default ?? s.example ?? '' });
    return { node: label(input), read: () => (input.value === '' ? undefined : Number(input.value)) };
  }
  if (type === 'array' && ['string', 'number', 'integer'].includes(typeOf(flatten(doc, s.items || {})))) {
    const items = flatten(doc, s.items);
    const numeric = typeOf(items) !== 'string';
    const choices = items.enum ? `: ${items.enum.join(', ')}` : '';
    const input = el('input', { name, placeholder: `comma-separated${choices}`, required });
    const read = () => {
      const parts = input.value.split(',').map((p) => p.trim()).filter(Boolean);
      return parts.length ? parts.map((p) => (numeric ? Number(p) : p)) : undefined;
    };
    return { node: label(input), read };
  }
  if (type === 'object' && s.properties) return objectField(doc, name, s, label);
  if (type === 'object' || type === 'array') {
    const area = el('textarea', { name, rows: 3, placeholder: 'JSON', required });
    return { node: label(area), read: () => (area.value.trim() ? JSON.parse(area.value) : undefined) };
  }
  const placeholder = s.format === 'date-time' ? '2026-12-01T09:00:00Z' : s.example ?? s.default ?? '';
  const input = el('input', { name, required, placeholder: String(placeholder) });
  return { node: label(input), read: () => (input.value === '' ? undefined : input.value) };
}

function objectField(doc, name, s, label) {
  const required = new Set(s.required || []);
  const fields = Object.entries(s.properties).map(([key, p]) => [key, field(doc, key, p, required.has(key))]);
  const read = () => {
    const out = {};
    for (const [key, f] of fields) {
      const v = f.read();
      if (v !== undefined) out[key] = v;
    }
    return Object.keys(out).length ? out : undefined;
  };
  const node = name ? el('fieldset', {}, el('legend', {}, name), ...fields.map(([, f]) => f.node))
    : el('div', {}, ...fields.map(([, f]) => f.node));
  return { node, read, label };
}

function variantField(doc, name, variants, required, label) {
  const select = el('select', { name: `${name || 'body'}-variant` },
    ...variants.map((v, i) => el('option', { value: String(i) }, variantName(v, i))));
  const holder = el('div');
  let current;
  const show = () => {
    const v = variants[Number(select.value)];
    current = typeOf(v) === 'object' || v.properties ? objectField(doc, '', v, label) : field(doc, 'value', v, true);
    holder.replaceChildren(current.node);
  };
  select.addEventListener('change', show);
  show();
  return { node: el('div', {}, label(select, null), holder), read: () => current.read() };
}

/** Shows what an operation answered: a table for a list of objects, else the JSON. */
function showResult(node, value) {
  if (Array.isArray(value) && value.length && typeof value[0] === 'object') {
    const t = el('table');
    table(t, value, Object.keys(value[0]).map((k) => [k, k, (v) => (typeof v === 'object' ? JSON.stringify(v) : v)]));
    node.replaceChildren(el('div', { class: 'scroll short' }, t));
  } else {
    node.replaceChildren(el('pre', {}, JSON.stringify(value, null, 2)));
  }
}

function operationForm(doc, path, method, op, token) {
  const params = (op.parameters || []).map((p) => ({ ...p, ...resolve(doc, p) }));
  const pathFields = params.filter((p) => p.in === 'path').map((p) => [p.name, field(doc, p.name, p.schema || {}, true)]);
  const queryFields = params.filter((p) => p.in === 'query').map((p) => [p.name, field(doc, p.name, p.schema || {}, p.required)]);
  const bodySchema = op.requestBody?.content?.['application/json']?.schema;
  const body = bodySchema ? field(doc, '', bodySchema, op.requestBody.required) : null;
  const result = el('div', { class: 'result', role: 'status', 'aria-live': 'polite' });
  const risky = method === 'delete' || /reset|season|restore|delete|clear/i.test(path);
  const button = el('button', { type: 'submit' }, method === 'get' ? 'Show' : 'Send');
  let armed = 0;
  const form = el('form', { 'data-path': path, 'data-method': method },
    ...pathFields.map(([, f]) => f.node), ...queryFields.map(([, f]) => f.node), body?.node, button, result);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (risky && Date.now() - armed > CONFIRM_MS) {
      armed = Date.now();
      say(result, 'Click again to confirm.');
      return;
    }
    armed = 0;
    try {
      let url = path;
      for (const [name, f] of pathFields) url = url.replace(`{${name}}`, encodeURIComponent(f.read() ?? ''));
      const query = new URLSearchParams();
      for (const [name, f] of queryFields) if (f.read() !== undefined) query.set(name, f.read());
      if ([...query].length) url += `?${query}`;
      const response = await api(url, { method: method.toUpperCase(), body: body ? body.read() ?? {} : undefined, token: token(), raw: true });
      await show(response, result, url);
    } catch (err) {
      say(result, err.message, 'error');
    }
  });
  const named = op.operationId ? op.operationId.replace(/_/g, ' ') : '';
  const title = op.summary || (op.description || '').split('\n')[0] || named;
  return el('details', { class: 'op', 'data-op': `${method} ${path}` },
    el('summary', {}, el('code', {}, method.toUpperCase()), ' ', path.replace('/api/v1/admin', ''), ' ',
      el('span', { class: 'muted' }, title)), form);
}

/** JSON answers are shown; anything else (an export) is downloaded as a file. */
async function show(response, node, url) {
  const type = response.headers.get('content-type') || '';
  if (type.includes('json')) return showResult(node, await response.json());
  const blob = await response.blob();
  const disposition = response.headers.get('content-disposition') || '';
  const name = /filename="?([^";]+)/.exec(disposition)?.[1] || url.split('/').pop().split('?')[0];
  const link = el('a', { href: URL.createObjectURL(blob), download: name }, `Download ${name} (${blob.size} bytes)`);
  node.replaceChildren(link);
  link.click();
}

/** Builds a form for every admin operation but `skip`, grouped by the path's first segment. */
export function adminForms(container, doc, token, skip = []) {
  const groups = new Map();
  for (const [path, ops] of Object.entries(doc.paths || {})) {
    if (!path.startsWith('/api/v1/admin/')) continue;
    for (const method of METHODS) {
      if (!ops[method] || skip.includes(`${method} ${path}`)) continue;
      const group = path.split('/')[4] || 'admin';
      if (!groups.has(group)) groups.set(group, []);
      groups.get(group).push(operationForm(doc, path, method, ops[method], token));
    }
  }
  container.replaceChildren(...[...groups].map(([name, forms]) =>
    el('section', { class: 'group' }, el('h3', {}, name.replace(/[-_]/g, ' ')), ...forms)));
  return [...groups.values()].flat().length;
}

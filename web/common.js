// Shared by the desk and the teacher's console: the API client, the one live-stream connection
// of a page, and formatting. Plain ES module, no build step.

/** An answer of the API that is not 2xx; `message` is the server's own `detail`, verbatim. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

/** Calls the API; resolves to the parsed JSON body, or rejects with an ApiError. */
export async function api(path, { method = 'GET', body, token, raw = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'The server is unreachable.');
  }
  if (raw && response.ok) return response;
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    const detail = json && typeof json.detail === 'string' ? json.detail : text || response.statusText;
    throw new ApiError(response.status, detail);
  }
  return json;
}

/** The currency each market settles in; crypto settles in USD (the app's `usa` balance). */
const CURRENCIES = {
  india: { code: 'INR', balance: 'india' },
  usa: { code: 'USD', balance: 'usa' },
  uk: { code: 'GBP', balance: 'uk' },
  crypto: { code: 'USD', balance: 'usa' },
};

export function currencyOf(market) {
  return (CURRENCIES[market] || CURRENCIES.usa).code;
}

/** The balance key (and order `market`) whose currency an instrument of `market` trades in. */
export function balanceKeyOf(market) {
  return (CURRENCIES[market] || CURRENCIES.usa).balance;
}

export const BALANCE_CURRENCY = { india: 'INR', usa: 'USD', uk: 'GBP' };

const moneyFormats = new Map();
export function money(value, code) {
  if (!moneyFormats.has(code)) {
    moneyFormats.set(code, new Intl.NumberFormat(undefined, { style: 'currency', currency: code }));
  }
  return moneyFormats.get(code).format(value);
}

const number2 = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
export function price(value) {
  return Number.isFinite(value) ? number2.format(value) : '–';
}

export function signed(value, suffix = '') {
  if (!Number.isFinite(value)) return '–';
  return `${value > 0 ? '+' : ''}${number2.format(value)}${suffix}`;
}

const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
export function shortNumber(value) {
  return Number.isFinite(value) ? compact.format(value) : '–';
}

/** A time: the clock alone for today, the date and the clock otherwise. */
export function time(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const clock = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return d.toDateString() === new Date().toDateString() ? clock : `${d.toLocaleDateString()} ${clock}`;
}

/** Creates an element: `el('td', {class: 'x'}, 'text', child)`. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'class') node.className = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  node.append(...children.filter((c) => c !== undefined && c !== null));
  return node;
}

/** Replaces a cell's text and flashes it up or down when the value moved. */
export function flash(node, text, direction) {
  if (node.textContent === text) return;
  node.textContent = text;
  if (!direction) return;
  node.classList.remove('flash-up', 'flash-down');
  void node.offsetWidth; // restarts the animation
  node.classList.add(direction > 0 ? 'flash-up' : 'flash-down');
}

/** Shows a status line: kind is 'ok', 'error' or '' (neutral). */
export function say(node, text, kind = '') {
  node.textContent = text;
  node.dataset.kind = kind;
}

/** Reconnection delays: doubling from half a second to ten, with jitter. */
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10_000;

/**
 * The page's one connection to `/ws/market/stream`. Reconnects with backoff; `onStatus` hears
 * ('live' | 'connecting' | 'down', message). Frames go to `onTick`, `onNews` and `onSystem`.
 */
export class Stream {
  constructor({ onTick, onNews = () => {}, onSystem = () => {}, onStatus = () => {}, onReconnect = () => {} }) {
    Object.assign(this, { onTick, onNews, onSystem, onStatus, onReconnect });
    this.delay = BACKOFF_MIN_MS;
    this.everConnected = false;
    this.connect();
  }

  connect() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    this.onStatus('connecting', 'Connecting to the live market…');
    const socket = new WebSocket(`${scheme}://${location.host}/ws/market/stream`);
    this.socket = socket;
    socket.onopen = () => {
      this.delay = BACKOFF_MIN_MS;
      this.onStatus('live', 'Live');
      if (this.everConnected) this.onReconnect();
      this.everConnected = true;
    };
    socket.onmessage = (event) => this.dispatch(event.data);
    socket.onclose = () => this.retry();
  }

  dispatch(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame.type === 'system') {
      // Market notices (pause, speed, a new season) are for people; hellos and acknowledgements
      // are not.
      const notice = frame.message && frame.message !== 'Connected to Market Stream'
        && (!frame.event || frame.event === 'market_status' || frame.event === 'season');
      if (notice) this.onSystem(frame);
    }
    else if ('headline' in frame) this.onNews(frame);
    else if (typeof frame.symbol === 'string' && typeof frame.price === 'number') this.onTick(frame);
  }

  retry() {
    const wait = Math.round(this.delay * (0.75 + Math.random() * 0.5));
    this.delay = Math.min(this.delay * 2, BACKOFF_MAX_MS);
    const seconds = Math.max(1, Math.round(wait / 1000));
    this.onStatus('down', `The server is unreachable. Prices are frozen; trying again in ${seconds} s…`);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), wait);
  }
}

/** The JSON of `/openapi.json`, fetched once per page (features that exist on this server). */
let openapi;
export function openApi() {
  openapi ??= api('/openapi.json').catch(() => ({ paths: {}, components: {} }));
  return openapi;
}

/** Resolves a `$ref` of the OpenAPI document (one level at a time, as often as needed). */
export function resolve(doc, schema) {
  let s = schema || {};
  for (let i = 0; s.$ref && i < 16; i++) {
    s = doc.components?.schemas?.[s.$ref.split('/').pop()] || {};
  }
  return s;
}

/** The `enum` of a schema, looking through `$ref`, `oneOf`, `anyOf` and `allOf` (nullable forms). */
export function enumOf(doc, schema) {
  const s = resolve(doc, schema);
  if (Array.isArray(s.enum)) return s.enum.filter((v) => v !== null);
  for (const sub of [...(s.oneOf || []), ...(s.anyOf || []), ...(s.allOf || [])]) {
    const found = enumOf(doc, sub);
    if (found) return found;
  }
  return null;
}

/** A table of objects: `columns` as [key, heading, format?]; cells fall back to the raw value. */
export function table(node, rows, columns, rowAttrs = () => ({})) {
  const head = el('thead', {}, el('tr', {}, ...columns.map(([, h]) => el('th', { scope: 'col' }, h))));
  const body = el('tbody', {}, ...rows.map((row) => el('tr', rowAttrs(row), ...columns.map(([key, , format]) => {
    const value = typeof key === 'function' ? key(row) : row[key];
    const shown = format ? format(value, row) : value;
    return el('td', {}, shown instanceof Node ? shown : String(shown ?? ''));
  }))));
  if (!rows.length) body.append(el('tr', {}, el('td', { colspan: columns.length, class: 'muted' }, 'None yet')));
  node.replaceChildren(head, body);
}

/** The path template of an operation the server offers, found by a pattern over its paths. */
export function findPath(doc, pattern, method) {
  return Object.keys(doc.paths || {}).find((p) => pattern.test(p) && doc.paths[p][method]);
}

/** A path template with its `{parameters}` filled in order, each percent-encoded. */
export function fillPath(template, values) {
  let i = 0;
  return template.replace(/\{[^}]+\}/g, () => encodeURIComponent(values[i++]));
}

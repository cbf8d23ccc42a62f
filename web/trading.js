// The order ticket and the portfolio of the desk. Order types and their price fields are read
// from the server's OpenAPI document, so resting orders appear here once the server has them.

import {
  api, el, money, price, signed, currencyOf, balanceKeyOf, BALANCE_CURRENCY, openApi, resolve, enumOf, say, table,
  time, findPath, fillPath,
} from './common.js';

/** Price fields each order type needs, as the server spells them (Alpaca's names). */
const PRICE_FIELDS = {
  limit: ['limit_price'],
  stop: ['stop_price'],
  stop_limit: ['limit_price', 'stop_price'],
  trailing_stop: ['trail_price', 'trail_percent'],
};
/** Fields that must exist in the schema for a type to be offered, when it lists no types. */
const NEEDS = { limit: ['limit_price'], stop: ['stop_price'], stop_limit: ['limit_price', 'stop_price'],
  trailing_stop: ['trail_percent'] };
/** Alpaca's time-in-force values, offered when the schema names the field without listing them. */
const TIME_IN_FORCE = ['day', 'gtc', 'ioc', 'fok'];
const LABELS = { limit_price: 'Limit price', stop_price: 'Stop price', trail_price: 'Trail (price)',
  trail_percent: 'Trail (%)', time_in_force: 'Time in force' };
/** Filled orders shown; the full list is one API call away. */
const RECENT_ORDERS = 20;

export class Ticket {
  constructor(form, { board, who, onPlaced }) {
    Object.assign(this, { form, board, who, onPlaced });
    this.qty = form.querySelector('#t-qty');
    this.type = form.querySelector('#t-type');
    this.extra = form.querySelector('#t-extra');
    this.estimate = form.querySelector('#t-estimate');
    this.result = form.querySelector('#t-result');
    this.fields = new Set();
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.place();
    });
    form.addEventListener('input', () => this.update());
    this.type.addEventListener('change', () => this.showFields());
    this.discover();
  }

  /** Offers the order types and fields of the server's place-order schema. */
  async discover() {
    const doc = await openApi();
    const op = doc.paths?.['/api/v1/orders/place']?.post;
    const schema = resolve(doc, op?.requestBody?.content?.['application/json']?.schema);
    this.props = schema.properties || {};
    const inferred = Object.keys(NEEDS).filter((t) => NEEDS[t].every((f) => this.props[f]));
    const types = enumOf(doc, this.props.order_type) || ['market', ...inferred];
    this.type.replaceChildren(...types.map((t) => el('option', { value: t }, t.replace('_', ' '))));
    this.tif = this.props.time_in_force ? enumOf(doc, this.props.time_in_force) || TIME_IN_FORCE : null;
    this.showFields();
  }

  showFields() {
    const wanted = (PRICE_FIELDS[this.type.value] || []).filter((f) => this.props?.[f]);
    const nodes = wanted.map((f) => el('label', {}, `${LABELS[f]} `,
      el('input', { name: f, type: 'number', min: '0', step: 'any' })));
    if (this.tif && this.type.value !== 'market') {
      nodes.push(el('label', {}, 'Time in force ', el('select', { name: 'time_in_force' },
        el('option', { value: '' }, 'default'), ...this.tif.map((t) => el('option', { value: t }, t)))));
    }
    this.fields = new Set([...wanted, ...(nodes.length > wanted.length ? ['time_in_force'] : [])]);
    this.extra.replaceChildren(...nodes);
  }

  setSymbol(symbol) {
    this.symbol = symbol;
    const i = this.board.instrument(symbol);
    this.form.querySelector('#t-symbol').textContent = i ? `${symbol} · ${i.name} · in ${currencyOf(i.market)}` : '';
    this.update();
  }

  setEnabled(enabled, reason = '') {
    this.form.querySelector('#t-submit').disabled = !enabled;
    if (reason) say(this.result, reason);
  }

  /** The estimate line: quantity at the live price, in the instrument's own currency. */
  update(balances = this.balances) {
    this.balances = balances;
    const i = this.board.instrument(this.symbol);
    const last = this.board.price(this.symbol);
    const qty = Number(this.qty.value);
    if (!i || !Number.isFinite(last) || !(qty > 0)) {
      this.estimate.textContent = '';
      return;
    }
    const code = currencyOf(i.market);
    const cash = balances?.[balanceKeyOf(i.market)];
    const available = cash === undefined ? '' : ` · ${money(cash, code)} cash`;
    this.estimate.textContent = `≈ ${money(qty * last, code)} at ${price(last)} ${code}${available}`;
  }

  async place() {
    const me = this.who();
    const i = this.board.instrument(this.symbol);
    if (!me || !i) return;
    const data = new FormData(this.form);
    const body = {
      firebase_uid: me.uid,
      symbol: this.symbol,
      side: data.get('side'),
      quantity: Number(data.get('quantity')),
      market: balanceKeyOf(i.market),
      order_type: data.get('order_type') || 'market',
    };
    for (const f of this.fields) {
      const v = data.get(f);
      if (v !== null && v !== '') body[f] = f === 'time_in_force' ? v : Number(v);
    }
    const button = this.form.querySelector('#t-submit');
    button.disabled = true;
    say(this.result, 'Sending…');
    try {
      const placed = await api('/api/v1/orders/place', { method: 'POST', body, token: me.token });
      const code = currencyOf(i.market);
      const balance = Number.isFinite(placed.new_balance) ? ` · ${code} cash now ${money(placed.new_balance, code)}` : '';
      say(this.result, `${placed.message}${balance}`, 'ok');
      this.onPlaced();
    } catch (e) {
      say(this.result, e.message, 'error');
    } finally {
      button.disabled = false;
    }
  }
}

export class Portfolio {
  constructor(root, { board, who, onBalances }) {
    Object.assign(this, { root, board, who, onBalances });
    this.positions = [];
    this.error = root.querySelector('#portfolio-error');
    openApi().then((doc) => {
      this.openPath = findPath(doc, /^\/api\/v1\/orders\/\{[^}]+\}$/, 'get');
      this.cancelPath = findPath(doc, /^\/api\/v1\/orders\/\{[^}]+\}\/\{[^}]+\}$/, 'delete');
      root.querySelector('#open-block').hidden = !this.openPath;
    });
  }

  async refresh() {
    const me = this.who();
    if (!me) return;
    const opts = { token: me.token };
    const uid = encodeURIComponent(me.uid);
    try {
      const [account, orders, open] = await Promise.all([
        api(`/api/v1/portfolio/positions/${uid}`, opts),
        api(`/api/v1/portfolio/orders/${uid}?limit=${RECENT_ORDERS}`, opts),
        this.openPath ? api(`${fillPath(this.openPath, [me.uid])}?status=open`, opts).catch(() => []) : [],
      ]);
      say(this.error, '');
      this.showBalances(account.balances);
      this.positions = account.positions;
      this.showPositions();
      this.showOrders(orders);
      this.showOpen(Array.isArray(open) ? open : open.orders || []);
    } catch (e) {
      say(this.error, e.message, 'error');
    }
  }

  showBalances(balances) {
    this.onBalances(balances);
    this.root.querySelector('#balances').replaceChildren(...Object.entries(BALANCE_CURRENCY).map(([key, code]) =>
      el('div', { class: 'card', 'data-balance': key }, el('small', {}, code), el('strong', {}, money(balances[key], code)))));
  }

  /** Positions with unrealised P/L at the board's live prices, in each instrument's currency. */
  showPositions() {
    const rows = this.positions.map((p) => {
      const i = this.board.instrument(p.symbol);
      const last = this.board.price(p.symbol);
      return { ...p, code: currencyOf(i?.market), last, pnl: (last - p.average_cost) * p.quantity };
    });
    table(this.root.querySelector('#positions'), rows, [
      ['symbol', 'Symbol'],
      ['quantity', 'Qty'],
      ['average_cost', 'Avg cost', (v) => price(v)],
      ['last', 'Last', (v) => price(v)],
      ['pnl', 'Unrealised P/L', (v, r) => el('span', { 'data-trend': v > 0 ? 'up' : v < 0 ? 'down' : '' },
        `${signed(v)} ${r.code}`)],
    ], (r) => ({ 'data-symbol': r.symbol }));
  }

  showOrders(orders) {
    table(this.root.querySelector('#orders'), orders, [
      ['filled_at', 'Time', (v, r) => time(v || r.created_at)],
      ['symbol', 'Symbol'],
      ['side', 'Side'],
      ['quantity', 'Qty'],
      ['fill_price', 'Price', (v) => price(v)],
    ]);
  }

  showOpen(orders) {
    if (!this.openPath) return;
    const cancel = (o) => el('button', { type: 'button', onclick: () => this.cancel(o.id ?? o.order_id) }, 'Cancel');
    table(this.root.querySelector('#open-orders'), orders, [
      ['symbol', 'Symbol'],
      ['side', 'Side'],
      ['order_type', 'Type'],
      ['quantity', 'Qty'],
      [(o) => o.limit_price ?? o.stop_price ?? o.trail_percent ?? o.trail_price, 'Price', (v) => (v == null ? '' : price(v))],
      ['status', 'Status'],
      [(o) => o, '', (o) => (this.cancelPath ? cancel(o) : '')],
    ]);
  }

  async cancel(id) {
    const me = this.who();
    try {
      await api(fillPath(this.cancelPath, [me.uid, id]), { method: 'DELETE', token: me.token });
    } catch (e) {
      say(this.error, e.message, 'error');
    }
    this.refresh();
  }
}

// The live board: one row per instrument, updated from the stream, filtered by market, type
// and text, the watchlist first. Used full-size on the desk and compact on the console.

import { el, flash, price, signed, currencyOf } from './common.js';

const MARKET_ORDER = ['india', 'usa', 'uk', 'crypto'];

export class Board {
  /**
   * @param table a <table> element (its body is replaced)
   * @param instruments the array of `/market/instruments`
   * @param quotes the array of `/market/quotes`
   */
  constructor(table, instruments, quotes, { compact = false, watchlist = new Set(), onSelect, onWatch } = {}) {
    Object.assign(this, { table, compact, watchlist, onSelect, onWatch });
    this.filter = { market: '', type: '', text: '' };
    const bySymbol = new Map(quotes.map((q) => [q.symbol, q]));
    this.rows = new Map();
    for (const instrument of instruments) {
      const q = bySymbol.get(instrument.symbol) || {};
      this.rows.set(instrument.symbol, this.row(instrument, q));
    }
    this.table.replaceChildren(this.head(), el('tbody'));
    this.arrange();
    for (const q of quotes) this.show(q.symbol);
  }

  head() {
    const cells = this.compact
      ? ['Symbol', 'Price', 'Change']
      : ['', 'Symbol', 'Name', 'Price', 'Change', '%', 'Day range'];
    const classes = { Name: 'name', Change: 'chg', 'Day range': 'range' };
    return el('thead', {}, el('tr', {}, ...cells.map((c) => el('th', { scope: 'col', class: classes[c] }, c))));
  }

  row(instrument, q) {
    const symbol = instrument.symbol;
    const state = {
      instrument,
      price: q.price,
      change: q.change,
      changePercent: q.changePercent,
      high: q.high,
      low: q.low,
      volume: q.volume,
    };
    const cell = (cls) => el('td', { class: cls });
    state.cells = { price: cell('num price'), change: cell('num chg'), percent: cell('num'), range: cell('range') };
    state.marker = el('i');
    state.rangeText = el('small');
    state.cells.range.append(el('span', { class: 'rangebar', 'aria-hidden': 'true' }, state.marker), state.rangeText);
    const pick = el('button', { class: 'link', type: 'button', onclick: () => this.onSelect?.(symbol) }, symbol);
    const title = `${instrument.name} · ${instrument.market} · ${currencyOf(instrument.market)}`;
    if (this.compact) {
      state.tr = el('tr', { 'data-symbol': symbol, title }, el('th', { scope: 'row' }, symbol), state.cells.price,
        state.cells.percent);
    } else {
      state.star = el('button', {
        class: 'star', type: 'button', 'aria-label': `Watch ${symbol}`,
        onclick: (e) => {
          e.stopPropagation();
          this.onWatch?.(symbol, !this.watchlist.has(symbol));
        },
      });
      state.tr = el('tr', { 'data-symbol': symbol, title, onclick: () => this.onSelect?.(symbol) },
        el('td', {}, state.star), el('th', { scope: 'row' }, pick), el('td', { class: 'name' }, instrument.name),
        state.cells.price, state.cells.change, state.cells.percent, state.cells.range);
    }
    return state;
  }

  /** Sorts rows (watchlist first, then by market and symbol) and applies the filter. */
  arrange() {
    const order = [...this.rows.values()].sort((a, b) => {
      const wa = this.watchlist.has(a.instrument.symbol) ? 0 : 1;
      const wb = this.watchlist.has(b.instrument.symbol) ? 0 : 1;
      const ma = MARKET_ORDER.indexOf(a.instrument.market);
      const mb = MARKET_ORDER.indexOf(b.instrument.market);
      return wa - wb || ma - mb || a.instrument.symbol.localeCompare(b.instrument.symbol);
    });
    const body = this.table.tBodies[0];
    const text = this.filter.text.trim().toLowerCase();
    for (const r of order) {
      const i = r.instrument;
      r.tr.hidden = (this.filter.market && i.market !== this.filter.market)
        || (this.filter.type && i.type !== this.filter.type)
        || (text && !`${i.symbol} ${i.name}`.toLowerCase().includes(text));
      if (r.star) {
        const on = this.watchlist.has(i.symbol);
        r.star.textContent = on ? '★' : '☆';
        r.star.setAttribute('aria-pressed', String(on));
      }
      body.append(r.tr);
    }
  }

  setFilter(filter) {
    Object.assign(this.filter, filter);
    this.arrange();
  }

  setWatchlist(symbols) {
    this.watchlist = new Set(symbols);
    this.arrange();
  }

  select(symbol) {
    for (const [s, r] of this.rows) r.tr.classList.toggle('selected', s === symbol);
  }

  /** Applies a tick frame of the stream. */
  tick(frame) {
    const r = this.rows.get(frame.symbol);
    if (!r) return;
    const direction = Math.sign(frame.price - r.price);
    Object.assign(r, { price: frame.price, change: frame.change, changePercent: frame.changePercent });
    // A tick's volume is the day's so far: a smaller one means a new day began.
    if (frame.volume < r.volume) {
      r.high = frame.price;
      r.low = frame.price;
    }
    r.volume = frame.volume;
    r.high = Math.max(r.high ?? frame.price, frame.price);
    r.low = Math.min(r.low ?? frame.price, frame.price);
    this.show(frame.symbol, direction);
  }

  show(symbol, direction = 0) {
    const r = this.rows.get(symbol);
    const c = r.cells;
    flash(c.price, price(r.price), direction);
    c.change.textContent = signed(r.change);
    c.percent.textContent = signed(r.changePercent, '%');
    const trend = r.change > 0 ? 'up' : r.change < 0 ? 'down' : '';
    for (const node of [c.change, c.percent]) node.dataset.trend = trend;
    // The day's range as a bar with the price's place in it; the numbers in words beside it.
    const span = r.high - r.low;
    r.marker.style.left = `${span > 0 ? ((r.price - r.low) / span) * 100 : 50}%`;
    r.rangeText.textContent = `${price(r.low)} – ${price(r.high)}`;
  }

  /** The latest price of `symbol`, if any. */
  price(symbol) {
    return this.rows.get(symbol)?.price;
  }

  instrument(symbol) {
    return this.rows.get(symbol)?.instrument;
  }
}

/** Fills a <select> with "All" and the distinct values of `key` among the instruments. */
export function fillFilter(select, instruments, key, labels = {}) {
  const values = [...new Set(instruments.map((i) => i[key]))].sort();
  select.replaceChildren(el('option', { value: '' }, 'All'),
    ...values.map((v) => el('option', { value: v }, labels[v] || v)));
}

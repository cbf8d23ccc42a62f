// The student desk: the board, the chart, the ticket and the portfolio, wired to the API and
// the page's one live-stream connection. Who the student is depends on the identity mode.

import { api, el, say, Stream, time, openApi, table, findPath, fillPath } from './common.js';
import { Board, fillFilter } from './board.js';
import { ChartPanel, TIMEFRAMES } from './chart.js';
import { Ticket, Portfolio } from './trading.js';
import { createChart, LineSeries } from './vendor/lightweight-charts.mjs';

const $ = (selector) => document.querySelector(selector);
/** A page that could not load its data tries again after this long. */
const RELOAD_AFTER_MS = 5000;
const store = {
  get: (key, fallback = '') => localStorage.getItem(`finlearn.${key}`) ?? fallback,
  set: (key, value) => localStorage.setItem(`finlearn.${key}`, value),
};
const MAX_NEWS = 50;
/** How often the portfolio is re-read (resting orders may fill between two of the student's actions). */
const PORTFOLIO_REFRESH_MS = 15_000;
const MARKETS = { india: 'India', usa: 'USA', uk: 'UK', crypto: 'Crypto' };

/** The `sub` of a JWT, or null: the shared-secret token names the uid it acts for. */
function tokenSubject(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '='))).sub || null;
  } catch {
    return null;
  }
}

/** Who am I, per identity mode; returns a function giving {uid, token} or null (read-only). */
function identity(mode, onChange) {
  const who = $('#who');
  if (mode === 'firebase') {
    who.append(el('span', { class: 'muted' }, 'Read-only: trading on this server is in the FinLearn app.'));
    return () => null;
  }
  if (mode === 'shared-secret') {
    const input = el('input', { id: 'token', type: 'password', placeholder: 'Token from your teacher',
      value: store.get('token'), 'aria-label': 'Your token' });
    const status = el('span', { class: 'muted', id: 'who-status' });
    const show = () => {
      const sub = tokenSubject(input.value.trim());
      say(status, sub ? `Signed in as ${sub}` : 'Paste the token your teacher handed out.', sub ? 'ok' : '');
    };
    input.addEventListener('change', () => {
      store.set('token', input.value.trim());
      show();
      onChange();
    });
    who.append(el('label', {}, 'Token ', input), status);
    show();
    return () => {
      const token = store.get('token');
      const uid = tokenSubject(token);
      return uid ? { uid, token } : null;
    };
  }
  // getRandomValues, unlike randomUUID, works on a plain-http classroom address too.
  const random = Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, '0'));
  if (!store.get('uid')) store.set('uid', `desk-${random.join('')}`);
  const nick = el('input', { id: 'nickname', value: store.get('nickname'), placeholder: 'Nickname', size: 12 });
  const uid = el('input', { id: 'uid', value: store.get('uid'), size: 14, spellcheck: 'false' });
  const status = el('span', { class: 'muted', id: 'who-status' });
  // The server's profile route, when it offers one: the nickname is the class's, shown on rankings.
  const profilePath = async (method) => {
    const template = findPath(await openApi(), /^\/api\/v1\/social\/profile\/\{[^}]+\}$/, method);
    return template && fillPath(template, [store.get('uid')]);
  };
  // The server's nickname for this id wins over the one kept in the browser ("Trader" means none).
  const loadNickname = async () => {
    const path = await profilePath('get');
    if (!path) return;
    try {
      const { username } = await api(path);
      if (username && username !== 'Trader') {
        nick.value = username;
        store.set('nickname', username);
      }
    } catch {
      // Unreachable for now: the browser's copy stays.
    }
  };
  nick.addEventListener('change', async () => {
    store.set('nickname', nick.value.trim());
    const path = await profilePath('put');
    if (!path) return;
    try {
      const { username } = await api(path, { method: 'PUT', body: { username: nick.value.trim() } });
      nick.value = username;
      store.set('nickname', username);
      say(status, 'Nickname saved', 'ok');
    } catch (e) {
      say(status, e.message, 'error');
    }
  });
  uid.addEventListener('change', () => {
    if (!uid.value.trim()) uid.value = store.get('uid');
    store.set('uid', uid.value.trim());
    say(status, '');
    loadNickname();
    onChange();
  });
  who.append(el('label', {}, 'Nickname ', nick), el('label', {}, 'Your id ', uid), status);
  loadNickname();
  return () => ({ uid: store.get('uid'), token: null });
}

/** The watchlist: the server's when the student is known, the browser's otherwise. */
class Watchlist {
  constructor(who, board) {
    Object.assign(this, { who, board });
  }

  path(symbol = '') {
    const me = this.who();
    return me && `/api/v1/portfolio/watchlist/${encodeURIComponent(me.uid)}${symbol && `/${encodeURIComponent(symbol)}`}`;
  }

  async load() {
    const me = this.who();
    let symbols = JSON.parse(store.get('watchlist', '[]'));
    if (me) symbols = (await api(this.path(), { token: me.token }).catch(() => ({ symbols }))).symbols;
    this.board.setWatchlist(symbols);
  }

  async toggle(symbol, on) {
    const me = this.who();
    const next = new Set(this.board.watchlist);
    if (on) next.add(symbol);
    else next.delete(symbol);
    store.set('watchlist', JSON.stringify([...next]));
    this.board.setWatchlist(next);
    if (me) await api(this.path(symbol), { method: on ? 'POST' : 'DELETE', token: me.token }).catch(() => {});
  }
}

function newsItem(n) {
  const impact = Number(n.impact) || 0;
  const scope = n.affected_symbols?.length ? n.affected_symbols.join(', ') : n.affected_scope;
  return el('li', { 'data-trend': impact > 0 ? 'up' : impact < 0 ? 'down' : '' },
    el('time', { datetime: n.timestamp }, time(n.timestamp)), ' ', el('strong', {}, n.headline), ' ',
    el('small', { class: 'muted' }, `${n.category || ''} · ${scope || ''}`));
}

function showBanner(text) {
  const banner = $('#banner');
  banner.hidden = !text;
  banner.textContent = text;
}

const percent = (v) => (v == null ? '–' : `${v.toFixed(2)}%`);
const ratio = (v) => (v == null ? '–' : v.toFixed(2));

/** The class's leaderboard (nicknames, by the class's own measure) and the student's value
 * over time, when the server keeps standings. */
class Standings {
  constructor(who) {
    this.who = who;
    this.chart = null;
    /** The archived season shown, or null for the season being played. */
    this.season = null;
    /** Whether the list of seasons was read (it changes only with a season change). */
    this.seasonsRead = false;
    $('#season-select').addEventListener('change', (e) => {
      this.season = e.target.value ? Number(e.target.value) : null;
      this.refresh();
    });
  }

  /** Lists the seasons to choose from, once there is an archived one. */
  async seasons(doc) {
    if (!doc.paths?.['/api/v1/class/seasons']?.get) return;
    const list = await api('/api/v1/class/seasons').catch(() => null);
    if (!Array.isArray(list)) return;
    const select = $('#season-select');
    select.replaceChildren(...list.slice().reverse().map((s) =>
      el('option', { value: s.current ? '' : String(s.season) }, `${s.season} ${s.current ? '(now)' : '(final)'}`)));
    if (!list.some((s) => !s.current && s.season === this.season)) this.season = null;
    select.value = this.season ? String(this.season) : '';
    $('#season-pick').hidden = list.length < 2;
  }

  /** Re-reads the standings; the list of seasons only at first and when `seasonsChanged`. */
  async refresh(seasonsChanged = false) {
    const doc = await openApi();
    if (!doc.paths?.['/api/v1/leaderboard']?.get) return;
    if (seasonsChanged || !this.seasonsRead) {
      this.seasonsRead = true;
      await this.seasons(doc);
    }
    const chosen = this.season ? `&season=${this.season}` : '';
    const board = await api(`/api/v1/leaderboard?limit=10${chosen}`).catch(() => null);
    if (!Array.isArray(board?.lines)) return;
    const season = board.season_number ? `season ${board.season_number} · ` : '';
    $('#leaders-sub').textContent = `${season}by ${board.sort} · ${board.students} students`;
    table($('#leaders'), board.lines, [
      ['rank', '#'], ['nickname', 'Nickname'], ['value', `Value (${board.currency})`, (v) => v.toFixed(2)],
      ['return_percent', 'Return', percent], ['max_drawdown_percent', 'Drawdown', percent],
      ['sharpe', 'Sharpe', ratio], ['trades', 'Trades'],
    ]);
    $('#leaders-panel').hidden = false;
    await this.performance();
  }

  async performance() {
    const me = this.who();
    if (!me) return;
    const path = `/api/v1/portfolio/performance/${encodeURIComponent(me.uid)}`;
    const p = await api(path, { token: me.token }).catch(() => null);
    if (!p) return;
    say($('#perf-note'), `Value ${p.value.toFixed(2)} ${p.currency} · return ${percent(p.return_percent)}`
      + ` · max drawdown ${percent(p.max_drawdown_percent)} · Sharpe ${ratio(p.sharpe)}`);
    if (!this.chart) {
      this.chart = createChart($('#perf'), { autoSize: true, timeScale: { timeVisible: true } });
      this.series = this.chart.addSeries(LineSeries, { color: '#2962ff', lineWidth: 2 });
    }
    // One point per second at most: the chart needs strictly increasing times.
    const points = new Map(p.points.map((pt) => [Math.floor(Date.parse(pt.time) / 1000), pt.value]));
    this.series.setData([...points].map(([time, value]) => ({ time, value })));
    this.chart.timeScale().fitContent();
  }
}

async function start() {
  let config;
  let instruments;
  let quotes;
  try {
    [config, instruments, quotes] = await Promise.all([
      api('/api/v1/session/config'), api('/api/v1/market/instruments'), api('/api/v1/market/quotes'),
    ]);
  } catch (e) {
    showBanner(`${e.message} Trying again in ${RELOAD_AFTER_MS / 1000} s…`);
    setTimeout(() => location.reload(), RELOAD_AFTER_MS);
    $('#conn').textContent = 'Offline';
    $('#conn').dataset.state = 'down';
    return;
  }
  let selected = new URLSearchParams(location.search).get('symbol') || instruments[0]?.symbol;
  let timeframe = store.get('timeframe', '1m');
  const changed = () => {
    watchlist.load();
    portfolio.refresh();
  };
  const who = identity(config.identity_mode, changed);
  const standings = new Standings(who);
  const board = new Board($('#board'), instruments, quotes, {
    onSelect: (symbol) => {
      select(symbol);
      // On a phone the chart is below the board: bring it into view.
      if (matchMedia('(max-width: 899px)').matches) $('#chart-panel').scrollIntoView({ behavior: 'smooth' });
    },
    onWatch: (symbol, on) => watchlist.toggle(symbol, on),
  });
  const watchlist = new Watchlist(who, board);
  const chart = new ChartPanel($('#chart'), (message) => say($('#chart-error'), message, 'error'));
  let balances;
  const ticket = new Ticket($('#ticket'), {
    board, who, onPlaced: () => { portfolio.refresh(); standings.refresh(); },
  });
  const portfolio = new Portfolio($('#portfolio-panel'), {
    board, who, onBalances: (b) => { balances = b; ticket.update(b); },
  });
  if (config.identity_mode === 'firebase') {
    $('#ticket-panel').hidden = true;
    $('#portfolio-panel').hidden = true;
  }

  fillFilter($('#f-market'), instruments, 'market', MARKETS);
  fillFilter($('#f-type'), instruments, 'type');
  $('#f-market').addEventListener('change', (e) => board.setFilter({ market: e.target.value }));
  $('#f-type').addEventListener('change', (e) => board.setFilter({ type: e.target.value }));
  $('#f-text').addEventListener('input', (e) => board.setFilter({ text: e.target.value }));

  const buttons = TIMEFRAMES.map((tf) => el('button', { type: 'button', 'data-tf': tf, onclick: () => setTimeframe(tf) }, tf));
  $('#timeframes').append(...buttons);
  const setTimeframe = (tf) => {
    timeframe = tf;
    store.set('timeframe', tf);
    for (const b of buttons) b.setAttribute('aria-pressed', String(b.dataset.tf === tf));
    say($('#chart-error'), '');
    chart.load(selected, tf, board.rows.get(selected)?.volume);
  };
  const select = (symbol) => {
    selected = symbol;
    const i = board.instrument(symbol);
    $('#chart-title').textContent = symbol;
    $('#chart-sub').textContent = i ? `${i.name} · ${i.market}` : '';
    board.select(symbol);
    ticket.setSymbol(symbol);
    setTimeframe(timeframe);
  };

  const news = $('#news');
  api('/api/v1/market/news?limit=20').then((items) => news.replaceChildren(...items.map(newsItem))).catch(() => {});
  new Stream({
    onTick: (frame) => {
      board.tick(frame);
      chart.tick(frame);
      if (frame.symbol === selected) ticket.update(balances);
    },
    onNews: (n) => {
      news.prepend(newsItem(n));
      while (news.children.length > MAX_NEWS) news.lastChild.remove();
    },
    onSystem: (frame) => {
      say($('#market-note'), frame.message);
      $('#market-note').hidden = false;
      // A new season (or its undo) changes every account: show it now.
      if (frame.event === 'season') {
        portfolio.refresh();
        standings.refresh(true);
      }
    },
    onStatus: (state, message) => {
      const pill = $('#conn');
      pill.dataset.state = state;
      pill.textContent = state === 'live' ? 'Live' : state === 'connecting' ? 'Connecting…' : 'Offline';
      // Once down, the notice stays through the reconnection attempts until the stream is live.
      if (state === 'down') showBanner(message);
      else if (state === 'live') showBanner('');
    },
    onReconnect: () => {
      chart.load(selected, timeframe, board.rows.get(selected)?.volume);
      portfolio.refresh();
    },
  });

  select(selected);
  ticket.setEnabled(true);
  changed();
  setInterval(() => portfolio.refresh(), PORTFOLIO_REFRESH_MS);
  setInterval(() => portfolio.showPositions(), 1000);
  standings.refresh();
  setInterval(() => standings.refresh(), PORTFOLIO_REFRESH_MS);
  document.body.dataset.ready = String(Math.round(performance.now()));
}

start();

// The teacher's console: the admin token, the server's status, a form for every admin
// operation the server offers, and a live view of the market.

import { api, el, say, Stream, time, openApi, shortNumber } from './common.js';
import { Board } from './board.js';
import { adminForms } from './forms.js';

const $ = (selector) => document.querySelector(selector);
/** A page that could not load its data tries again after this long. */
const RELOAD_AFTER_MS = 5000;
const TOKEN_KEY = 'finlearn.admin';
const STATUS_PATH = '/api/v1/admin/status';
const STATUS_REFRESH_MS = 5000;
const MAX_EVENTS = 30;
const LABELS = { instruments: 'Instruments', season: 'Season', users: 'Students', orders: 'Orders', ws_clients: 'Live connections',
  database_bytes: 'Database' };

let token = sessionStorage.getItem(TOKEN_KEY) || '';
let statusTimer;

function showBanner(text) {
  $('#banner').hidden = !text;
  $('#banner').textContent = text;
}

function showStatus(status) {
  $('#status').replaceChildren(...Object.entries(status).flatMap(([key, value]) => [
    el('dt', {}, LABELS[key] || key.replace(/_/g, ' ')),
    el('dd', {}, key.endsWith('bytes') ? `${shortNumber(value)}B` : String(value)),
  ]));
}

/** Checks the token against an admin route; the server's refusal is shown as it is. */
async function login(candidate) {
  const result = $('#login-result');
  try {
    showStatus(await api(STATUS_PATH, { token: candidate }));
  } catch (e) {
    const off = e.status === 404 ? ' The admin routes are off: start the server with an admin token ([admin] token).' : '';
    say(result, `${e.message}${off}`, 'error');
    return false;
  }
  token = candidate;
  sessionStorage.setItem(TOKEN_KEY, token);
  say(result, '');
  $('#login-panel').hidden = true;
  $('#status-panel').hidden = false;
  $('#controls-panel').hidden = false;
  const count = adminForms($('#controls'), await openApi(), () => token, [`get ${STATUS_PATH}`]);
  if (!count) $('#controls').append(el('p', { class: 'muted' }, 'This server offers no other admin operation yet.'));
  clearInterval(statusTimer);
  statusTimer = setInterval(() => api(STATUS_PATH, { token }).then(showStatus).catch(() => {}), STATUS_REFRESH_MS);
  return true;
}

function logout() {
  token = '';
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(statusTimer);
  $('#login-panel').hidden = false;
  $('#status-panel').hidden = true;
  $('#controls-panel').hidden = true;
  $('#controls').replaceChildren();
  $('#admin-token').value = '';
  $('#admin-token').focus();
}

function event(text, trend = '') {
  const list = $('#events');
  list.prepend(el('li', { 'data-trend': trend }, el('time', {}, time(new Date().toISOString())), ' ', text));
  while (list.children.length > MAX_EVENTS) list.lastChild.remove();
}

async function start() {
  $('#login').addEventListener('submit', (e) => {
    e.preventDefault();
    login($('#admin-token').value.trim());
  });
  $('#logout').addEventListener('click', logout);
  let instruments;
  let quotes;
  try {
    [instruments, quotes] = await Promise.all([api('/api/v1/market/instruments'), api('/api/v1/market/quotes')]);
  } catch (e) {
    showBanner(`${e.message} Trying again in ${RELOAD_AFTER_MS / 1000} s…`);
    setTimeout(() => location.reload(), RELOAD_AFTER_MS);
    return;
  }
  const board = new Board($('#mini'), instruments, quotes, { compact: true });
  new Stream({
    onTick: (frame) => board.tick(frame),
    onNews: (n) => event(n.headline, n.impact > 0 ? 'up' : n.impact < 0 ? 'down' : ''),
    onSystem: (frame) => event(frame.message),
    onStatus: (state, message) => {
      $('#conn').dataset.state = state;
      $('#conn').textContent = state === 'live' ? 'Live' : state === 'connecting' ? 'Connecting…' : 'Offline';
      // Once down, the notice stays through the reconnection attempts until the stream is live.
      if (state === 'down') showBanner(message);
      else if (state === 'live') showBanner('');
    },
  });
  if (token && !(await login(token))) logout();
  document.body.dataset.ready = String(Math.round(performance.now()));
}

start();

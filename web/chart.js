// The candlestick chart with volume: history from `/market/history`, the current candle kept
// up to date from the stream's ticks.

import { createChart, CandlestickSeries, HistogramSeries } from './vendor/lightweight-charts.mjs';
import { api } from './common.js';

export const TIMEFRAMES = ['1m', '5m', '15m', '1h', '4h', '1D', '1W', '1M'];
const SECONDS = { '1m': 60, '5m': 300, '15m': 900, '1h': 3600, '4h': 14_400, '1D': 86_400 };
const UP = '#1a9c6c';
const DOWN = '#d9434b';
const UP_VOLUME = 'rgba(26, 156, 108, 0.35)';
const DOWN_VOLUME = 'rgba(217, 67, 75, 0.35)';

/** Start (epoch seconds, UTC) of the bucket holding `t`, aligned as the server aligns them. */
export function bucketStart(t, timeframe) {
  if (SECONDS[timeframe]) return Math.floor(t / SECONDS[timeframe]) * SECONDS[timeframe];
  const day = Math.floor(t / 86_400);
  if (timeframe === '1W') return (day - ((day + 3) % 7)) * 86_400; // 1970-01-01 was a Thursday
  const d = new Date(t * 1000);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) / 1000;
}

function theme(node) {
  const css = getComputedStyle(node);
  return {
    layout: { background: { color: 'transparent' }, textColor: css.getPropertyValue('--fg').trim() || '#222' },
    grid: {
      vertLines: { color: css.getPropertyValue('--grid').trim() || '#eee' },
      horzLines: { color: css.getPropertyValue('--grid').trim() || '#eee' },
    },
  };
}

export class ChartPanel {
  constructor(container, onError) {
    this.container = container;
    this.onError = onError;
    this.chart = createChart(container, {
      autoSize: true,
      ...theme(container),
      timeScale: { timeVisible: true, secondsVisible: false },
      rightPriceScale: { scaleMargins: { top: 0.08, bottom: 0.28 } },
    });
    this.candles = this.chart.addSeries(CandlestickSeries, {
      upColor: UP, downColor: DOWN, wickUpColor: UP, wickDownColor: DOWN, borderVisible: false,
    });
    this.volume = this.chart.addSeries(HistogramSeries, {
      priceFormat: { type: 'volume' }, priceScaleId: 'volume', lastValueVisible: false, priceLineVisible: false,
    });
    this.chart.priceScale('volume').applyOptions({ scaleMargins: { top: 0.78, bottom: 0 } });
    this.generation = 0;
  }

  /** Loads `symbol` at `timeframe`; resolves when drawn (a later call wins over an earlier one). */
  async load(symbol, timeframe, dayVolume) {
    const generation = ++this.generation;
    Object.assign(this, { symbol, timeframe, last: null, dayVolume });
    let rows;
    try {
      rows = await api(`/api/v1/market/history/${encodeURIComponent(symbol)}?timeframe=${timeframe}`);
    } catch (e) {
      if (generation === this.generation) this.onError(e.message);
      return;
    }
    if (generation !== this.generation) return;
    const bars = rows.map((c) => ({
      time: Date.parse(c.timestamp) / 1000, open: c.open, high: c.high, low: c.low, close: c.close, volume: c.volume,
    }));
    this.candles.setData(bars);
    this.volume.setData(bars.map((b) => this.volumeBar(b)));
    this.last = bars.at(-1) || null;
    this.chart.timeScale().fitContent();
    Object.assign(this.container.dataset, { symbol, timeframe, candles: String(bars.length) });
  }

  volumeBar(b) {
    return { time: b.time, value: b.volume, color: b.close >= b.open ? UP_VOLUME : DOWN_VOLUME };
  }

  /** Folds a tick of the shown symbol into the current candle, or opens the next one. */
  tick(frame) {
    if (frame.symbol !== this.symbol || !this.last) return;
    const traded = frame.volume >= (this.dayVolume ?? 0) ? frame.volume - (this.dayVolume ?? 0) : frame.volume;
    this.dayVolume = frame.volume;
    const t = bucketStart(Date.parse(frame.timestamp) / 1000, this.timeframe);
    if (t < this.last.time) return;
    const p = frame.price;
    this.last = t === this.last.time
      ? { ...this.last, high: Math.max(this.last.high, p), low: Math.min(this.last.low, p), close: p,
        volume: this.last.volume + traded }
      : { time: t, open: p, high: p, low: p, close: p, volume: traded };
    this.candles.update(this.last);
    this.volume.update(this.volumeBar(this.last));
  }
}

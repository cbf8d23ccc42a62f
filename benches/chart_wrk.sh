#!/usr/bin/env bash
# The default chart against a quote and /health, side by side in one run, with wrk.
#
#   cargo build --release && benches/chart_wrk.sh [seconds per run, default 10]
#
# Starts the release binary (CARGO_TARGET_DIR or target/) on a free loopback port with a fresh
# temporary database (seed 42, five days seeded), then runs wrk against each path at 1, 4 and 50
# connections, one run after another, and prints requests/s, p99 and the chart's rate as a share
# of /health's at the same connection count. For comparison, the same chart with a `from`, which
# the database answers, runs beside them. Also prints the chart windows' size (from the
# start-up log) and the server's RSS before and after. Needs wrk (Debian: apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-10}
bin=${CARGO_TARGET_DIR:-target}/release/finlearn
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
[ -x "$bin" ] || { echo "no release binary at $bin: cargo build --release" >&2; exit 1; }

dir=$(mktemp -d)
server=
cleanup() {
    if [ -n "$server" ]; then
        kill -TERM "$server" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$server" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

: >"$dir/server.log"
RUST_LOG=info "$bin" serve --listen 127.0.0.1:0 --data "$dir/bench.duckdb" --seed 42 --log-format json \
    2>"$dir/server.log" >/dev/null &
server=$!
until grep -q '"serving"' "$dir/server.log"; do
    kill -0 "$server" 2>/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    sleep 0.2
done
port=$(grep '"serving"' "$dir/server.log" | sed -E 's/.*"port":([0-9]+).*/\1/')
base="http://127.0.0.1:$port"
rss_mb() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$server/status"; }

windows=$(grep 'chart windows built' "$dir/server.log" |
    sed -E 's/.*"candles":([0-9]+).*"mb":([0-9.]+).*"ms":([0-9.]+).*/\1 \2 \3/' |
    awk '{ printf "%d candles, %.1f MB, built from the rollups in %.0f ms", $1, $2, $3 }')
echo "$(date -u +%FT%TZ), $(nproc) cores, server on $base, $seconds s per run"
echo "chart windows: $windows"
echo "server RSS before the runs: $(rss_mb) MB"

# wrk's latency to milliseconds: "850.00us", "1.20ms", "1.01s".
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) printf "%.2f", substr(v, 1, length(v) - 2) / 1000;
        else if (v ~ /ms$/) printf "%.2f", substr(v, 1, length(v) - 2);
        else if (v ~ /s$/) printf "%.2f", substr(v, 1, length(v) - 1) * 1000;
        else print v }'
}

declare -A rate p99
paths=(health quote chart chart-duckdb)
# chart-duckdb: about the same window with a `from`, which only the database answers; one
# connection only, as concurrent database reads can still stall against the tick writer's commit.
from=$(date -u -d '-99 minutes' +%Y-%m-%dT%H:%M:00Z)
declare -A url=(
    [health]="/health"
    [quote]="/api/v1/market/quote/AAPL"
    [chart]="/api/v1/market/history/AAPL?timeframe=1m"
    [chart-duckdb]="/api/v1/market/history/AAPL?timeframe=1m&from=$from"
)
# The chart is the default window of 100 one-minute candles: check it is what is measured.
curl -sf "$base${url[chart]}" | grep -o '"timestamp"' | wc -l | xargs -I{} echo "chart body: {} candles"

for connections in 1 4 50; do
    threads=$((connections < 2 ? connections : 2))
    for name in "${paths[@]}"; do
        if [ "$name" = chart-duckdb ] && [ "$connections" -gt 1 ]; then continue; fi
        out=$(wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency "$base${url[$name]}")
        if grep -q "Non-2xx" <<<"$out"; then echo "$name answered errors:" >&2; echo "$out" >&2; exit 1; fi
        rate[$name,$connections]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
        p99[$name,$connections]=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    done
done

printf '\n%-13s %5s %12s %9s %10s\n' path conns "requests/s" "p99 ms" "x /health"
for connections in 1 4 50; do
    for name in "${paths[@]}"; do
        [ -n "${rate[$name,$connections]:-}" ] || continue
        share=$(awk -v a="${rate[$name,$connections]}" -v b="${rate[health,$connections]}" 'BEGIN { printf "%.2f", a / b }')
        printf '%-13s %5s %12s %9s %10s\n' "$name" "$connections" "${rate[$name,$connections]}" \
            "${p99[$name,$connections]}" "$share"
    done
done
echo
echo "server RSS after the runs: $(rss_mb) MB"

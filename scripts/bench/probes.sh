#!/usr/bin/env bash
# Issue #24: the cost of each probe (`/health`, `/health/ready`, `/metrics`) in one `serve` on an
# empty SQLite data directory (fs blob store).
# - instructions per probe, counted by callgrind over N sequential probes on one keep-alive
#   connection (all threads: the runtime, SQLite, the readiness checker's rounds during the
#   window), and the idle instructions per second (background tasks: full-text follower, worker
#   polls, the readiness checker) — load-independent, so two builds compare on a busy machine;
# - server time per probe from the server's own `medilink_http_request_duration_seconds`
#   histogram after `wrk -t1 -c1 -d${SECS}s` on each probe (not under callgrind): load-dependent,
#   compare builds only side by side in one run.
# Usage: scripts/bench/probes.sh BIN...   (each BIN a medilink-server binary; N default 200,
# SECS default 5, SETTLE default 30: seconds after start before counting; SERVE_ARGS default `--no-worker`,
# so that no periodic job falls into a window: the idle figure is then the full-text follower
# and, with the background readiness checker, its rounds).
set -euo pipefail
N="${N:-200}"
SECS="${SECS:-5}"
SERVE_ARGS="${SERVE_ARGS:---no-worker}"
PORT="${PORT:-18093}"

wait_up() {
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && return 0; sleep 0.5; done
  echo "server did not start" >&2; return 1
}

probe_n() {
  python3 - "$PORT" "$1" "$2" <<'PY'
import http.client, sys
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
for _ in range(n):
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    assert response.status == 200, (path, response.status)
PY
}

for BIN in "$@"; do
  echo "== $BIN"
  WORK=$(mktemp -d)
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/cg.out" \
    "$BIN" --data-dir "$WORK/data" serve --listen 127.0.0.1:$PORT $SERVE_ARGS >"$WORK/serve.log" 2>&1 &
  SERVER=$!
  wait_up
  # Start-up work (the first periodic jobs, the search registry) out of the windows.
  probe_n /health/ready 5
  sleep "${SETTLE:-30}"
  count() {
    local name="$1" path="$2" n="$3"
    [ "$n" -gt 0 ] && probe_n "$path" 20
    callgrind_control -i on $SERVER >/dev/null
    callgrind_control -z $SERVER >/dev/null
    if [ "$n" -gt 0 ]; then probe_n "$path" "$n"; else sleep 10; fi
    callgrind_control -d "$name" $SERVER >/dev/null
    callgrind_control -i off $SERVER >/dev/null
    sleep 2
    local file total
    file=$(ls -t "$WORK"/cg.out* | head -1)
    total=$(awk '/^(summary|totals):/ {print $2; exit}' "$file")
    if [ "$n" -gt 0 ]; then
      echo "$name: $((total / n)) instructions per probe ($total for $n)"
    else
      echo "$name: $((total / 10)) instructions per second idle"
    fi
  }
  count health /health "$N"
  count ready /health/ready "$N"
  count metrics /metrics "$N"
  count idle /health 0
  kill -9 $SERVER; wait $SERVER 2>/dev/null || true
  rm -rf "$WORK/data"
  PORT=$((PORT + 1))
  "$BIN" --data-dir "$WORK/data" serve --listen 127.0.0.1:$PORT $SERVE_ARGS >"$WORK/serve2.log" 2>&1 &
  SERVER=$!
  wait_up
  for path in /health /health/ready /metrics; do
    wrk -t1 -c1 -d"${SECS}s" "http://127.0.0.1:$PORT$path" >/dev/null
  done
  curl -s "http://127.0.0.1:$PORT/metrics" > "$WORK/metrics.txt"
  python3 - "$WORK/metrics.txt" <<'PY'
import re, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"medilink_http_request_duration_seconds_(bucket|sum|count)\{(.*)\} (\S+)", line)
    if not m:
        continue
    route = re.search(r'route="([^"]+)"', m.group(2)).group(1)
    if route not in ("/health", "/health/ready", "/metrics"):
        continue
    row = rows.setdefault(route, {})
    if m.group(1) == "bucket":
        if re.search(r'le="0.001"', m.group(2)):
            row["le1ms"] = float(m.group(3))
    else:
        row[m.group(1)] = float(m.group(3))
for route, row in sorted(rows.items()):
    n = row.get("count", 0)
    if n:
        mean = row["sum"] / n * 1000
        within = row.get("le1ms", 0) / n * 100
        print(f"{route}: {int(n)} probes, mean {mean:.3f} ms, within 1 ms {within:.1f}%")
PY
  kill $SERVER; wait $SERVER 2>/dev/null || true
  PORT=$((PORT - 1))
  rm -rf "$WORK"
done
uptime

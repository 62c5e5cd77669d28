#!/usr/bin/env bash
# HTTP benchmarks against a fresh server: transaction-bundle ingest and GET Patient/{id} reads
# (wrk), as an authenticated admin (TOTP enrolled), on the database given as $1 (default: SQLite).
# Usage: scripts/bench/http.sh [DATABASE_URL]   (run from the repository root after a release build;
# BIN=dir runs the binaries of another build, e.g. an earlier commit's for a before/after pair)
set -euo pipefail
DB="${1:-}"
DATA=$(mktemp -d)
PORT=18090
BIN="${BIN:-target/release}"
ARGS=(--data-dir "$DATA")
[ -n "$DB" ] && ARGS+=(--database-url "$DB")
"$BIN/medilink-server" "${ARGS[@]}" user add --email loadtest@example.org --password 'Qx7-vortex-kiwi-9351' --role admin >/dev/null
"$BIN/medilink-server" "${ARGS[@]}" serve --listen 127.0.0.1:$PORT --rate-limit-admin 0 >"$DATA/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; cp "$DATA/serve.log" /tmp/bench-serve.log; rm -rf "$DATA"' EXIT
for _ in $(seq 1 50); do curl -sf http://127.0.0.1:$PORT/health >/dev/null && break; sleep 0.2; done
TOKEN=$(python3 scripts/bench/admin_token.py http://127.0.0.1:$PORT loadtest@example.org 'Qx7-vortex-kiwi-9351')
"$BIN/medilink-bench" http --url http://127.0.0.1:$PORT/fhir/R4 --patients "${PATIENTS:-100}" --concurrency 2 --token "$TOKEN"
"$BIN/medilink-bench" seed-read --url http://127.0.0.1:$PORT/fhir/R4 --count 1000 --token "$TOKEN"
for c in 4 16; do
  echo "wrk: $c connections"
  wrk -t2 -c$c -d10s --latency -s scripts/bench/read.lua -H "Authorization: Bearer $TOKEN" http://127.0.0.1:$PORT \
    | grep -E "Requests/sec| 50%| 99%|Non-2xx"
done

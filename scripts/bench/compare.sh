#!/usr/bin/env bash
# The issue #19 table on a fresh MediLink server: starts `medilink-server serve` on a new data
# directory (SQLite unless $1 names a database), signs in an admin (TOTP enrolled), then runs
# `medilink-bench compare` against it (load over HTTP, then the wrk workloads) and reports the
# server's resident memory. For another server, run `medilink-bench compare --url <its base>`
# directly (token optional).
# Usage: scripts/bench/compare.sh [DATABASE_URL]   (after a release build; BIN=dir picks the
# binaries of another build, BENCH=dir the bench driver's; PATIENTS, CONNECTIONS, DURATION)
set -euo pipefail
DB="${1:-}"
DATA=$(mktemp -d)
PORT="${PORT:-18091}"
BIN="${BIN:-target/release}"
BENCH="${BENCH:-$BIN}"
ARGS=(--data-dir "$DATA")
[ -n "$DB" ] && ARGS+=(--database-url "$DB")
"$BIN/medilink-server" "${ARGS[@]}" user add --email loadtest@example.org --password 'Qx7-vortex-kiwi-9351' --role admin >/dev/null
"$BIN/medilink-server" "${ARGS[@]}" serve --listen 127.0.0.1:$PORT --rate-limit-admin 0 >"$DATA/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; cp "$DATA/serve.log" /tmp/compare-serve.log; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:$PORT/health >/dev/null && break; sleep 0.2; done
TOKEN=$(python3 scripts/bench/admin_token.py http://127.0.0.1:$PORT loadtest@example.org 'Qx7-vortex-kiwi-9351')
uptime
"$BENCH/medilink-bench" compare --url http://127.0.0.1:$PORT/fhir/R4 --token "$TOKEN" \
  --patients "${PATIENTS:-120}" --connections "${CONNECTIONS:-8}" --duration "${DURATION:-10}" \
  --server-pid "$SERVER" ${BUNDLES:+--bundles "$BUNDLES"}
uptime

#!/usr/bin/env bash
# The dashboards' tests: the unit tests (Vitest), then the browser end-to-end tests. Builds them and the server (debug) if needed,
# starts medilink-server on a free port with a temporary data directory, seeds it (a named
# physician, a second physician and an admin with `user add`, the demo data of testdata/ with
# `import`), runs e2e/run.mjs, then e2e/admin.mjs (the admin and research sections, issue #15),
# then e2e/portals.mjs (issue #16: axe-core checks, languages, the README's screenshots in
# docs/screenshots/), then e2e/smart.mjs and tools/smart/fhirclient_launch.py (issue #17: SMART
# App Launch with a local test app and with SMART's Python client) in headless Chromium (playwright-core driving /usr/bin/chromium, or
# $CHROMIUM), and stops the server.
# Screenshots: dashboards/e2e/screenshots/. Server log: printed when the tests fail.
set -euo pipefail
cd "$(dirname "$0")/.."
dashboards="$PWD"
root="$(cd .. && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"

export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] || { echo "e2e: no Chromium at $CHROMIUM (apt-get install chromium)" >&2; exit 1; }

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
fi
npm test --silent
npm run build --silent
(cd "$root" && cargo build --locked -p medilink-server --bin medilink-server)
server="$target/debug/medilink-server"

data="$(mktemp -d -t medilink-e2e-XXXXXX)"
log="$data/server.log"
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$data"
}
trap cleanup EXIT

export MEDILINK_DATA_DIR="$data/data"
export MEDILINK_ENV=development
export E2E_PHYSICIAN_EMAIL="doctor@e2e.test"
export E2E_PHYSICIAN_PASSWORD="e2e physician password 7"
export E2E_PHYSICIAN_NAME="Dr. Grace Hopper-E2E"
"$server" user add --email "$E2E_PHYSICIAN_EMAIL" --password "$E2E_PHYSICIAN_PASSWORD" --role physician \
    --name "$E2E_PHYSICIAN_NAME" >>"$log" 2>&1
export E2E_PHYSICIAN2_EMAIL="franklin@e2e.test"
export E2E_PHYSICIAN2_PASSWORD="e2e second physician password 8"
export E2E_PHYSICIAN2_NAME="Dr. Rosalind Franklin-E2E"
"$server" user add --email "$E2E_PHYSICIAN2_EMAIL" --password "$E2E_PHYSICIAN2_PASSWORD" --role physician \
    --name "$E2E_PHYSICIAN2_NAME" >>"$log" 2>&1
export E2E_ADMIN_EMAIL="admin@e2e.test"
export E2E_ADMIN_PASSWORD="quiet harbour lantern 42 e2e"
export E2E_ADMIN_NAME="Alan Admin-E2E"
"$server" user add --email "$E2E_ADMIN_EMAIL" --password "$E2E_ADMIN_PASSWORD" --role admin \
    --name "$E2E_ADMIN_NAME" >>"$log" 2>&1
"$server" import "$root/testdata/synthea" "$root/testdata/us-core" >>"$log" 2>&1

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export MEDILINK_URL="http://127.0.0.1:$port"
"$server" serve --listen "127.0.0.1:$port" --dashboards-dir "$dashboards/dist" \
    --argon2-memory-kib 4096 --argon2-iterations 1 >>"$log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    curl -fsS "$MEDILINK_URL/health" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; echo "e2e: the server did not start" >&2; exit 1; }
    sleep 0.2
done

# SMART App Launch (issue #17): the browser story, then SMART's Python client (`fhirclient`,
# pinned in tools/smart/requirements.txt, in a virtualenv under the build target directory).
smart() {
    export E2E_SMART_HANDOFF="$data/smart-handoff.json"
    # Its own admin and physician, added only now: admin.mjs checks that its admin is the last one.
    export E2E_SMART_ADMIN_EMAIL="smart-admin@e2e.test"
    export E2E_SMART_ADMIN_PASSWORD="lighthouse quartz meadow 73 e2e"
    "$server" user add --email "$E2E_SMART_ADMIN_EMAIL" --password "$E2E_SMART_ADMIN_PASSWORD" --role admin \
        --name "Sam Smart-Admin-E2E" >>"$log" 2>&1 || return 1
    export E2E_SMART_PHYSICIAN_EMAIL="smart-doctor@e2e.test"
    export E2E_SMART_PHYSICIAN_PASSWORD="e2e smart launch physician 9"
    export E2E_SMART_PHYSICIAN_NAME="Dr. Smart Launch-E2E"
    "$server" user add --email "$E2E_SMART_PHYSICIAN_EMAIL" --password "$E2E_SMART_PHYSICIAN_PASSWORD" --role physician \
        --name "$E2E_SMART_PHYSICIAN_NAME" >>"$log" 2>&1 || return 1
    node e2e/smart.mjs || return 1
    local venv="$target/smart-venv"
    if [ ! -x "$venv/bin/python" ] || [ "$root/tools/smart/requirements.txt" -nt "$venv/.installed" ]; then
        python3 -m venv "$venv" && "$venv/bin/pip" install -q -r "$root/tools/smart/requirements.txt" && touch "$venv/.installed" || return 1
    fi
    "$venv/bin/python" "$root/tools/smart/fhirclient_launch.py" "$E2E_SMART_HANDOFF"
}

if ! node e2e/run.mjs || ! node e2e/admin.mjs || ! node e2e/portals.mjs || ! smart; then
    echo "--- server log (last 60 lines) ---" >&2
    tail -n 60 "$log" >&2
    exit 1
fi

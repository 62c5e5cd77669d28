#!/usr/bin/env bash
# Instructions per request through the full pipeline (JWT, rate limit, consent guard, durable
# audit record), counted by callgrind: load-independent, so two builds can be compared on a busy
# machine (wall-clock figures there cannot). Loads PATIENTS US Core clones into a fresh SQLite
# server once (natively, cached in $LOADED), then runs the server under callgrind on a copy of
# that data and counts, per workload, the instructions of N sequential requests over one
# keep-alive connection (all threads: runtime, SQLite workers, audit writer). Workloads: an
# admin's `GET Patient/{id}` and `Observation?code=…&_count=20` (admin rate limit off), and a
# physician's `GET Patient/{id}` of a patient who granted it access (consent decision, grant
# cache, the physician's rate-limit counter at its default limit).
# COUNT=switches counts context switches per request instead (the server runs natively; the
# voluntary switches of all its threads from /proc/PID/task/*/status — each one a thread that
# waited for another: a hand-off — and `perf stat -e context-switches` over the same requests,
# which also counts preemptions by the machine's other load).
# Usage: scripts/bench/instructions.sh   (from the repository root after a release build;
# BIN=dir for another build's binaries, e.g. an earlier commit's for a before/after pair;
# PATIENTS (default 20), N (default 200), LOADED (default /tmp/instructions-data-$PATIENTS))
set -euo pipefail
BIN="${BIN:-target/release}"
BENCH="${BENCH:-$BIN}"
PATIENTS="${PATIENTS:-20}"
N="${N:-200}"
LOADED="${LOADED:-/tmp/instructions-data-$PATIENTS}"
PORT="${PORT:-18092}"
EMAIL=loadtest@example.org
PASSWORD='Qx7-vortex-kiwi-9351'
HERE=$(cd "$(dirname "$0")" && pwd)

wait_up() {
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && return 0; sleep 0.5; done
  echo "server did not start" >&2; return 1
}

if [ ! -d "$LOADED" ]; then
  mkdir -p "$LOADED"
  "$BIN/medilink-server" --data-dir "$LOADED" user add --email $EMAIL --password "$PASSWORD" --role admin >/dev/null
  "$BIN/medilink-server" --data-dir "$LOADED" serve --listen 127.0.0.1:$PORT --rate-limit-admin 0 >"$LOADED.log" 2>&1 &
  SERVER=$!
  wait_up
  TOKEN=$(python3 "$HERE/admin_token.py" http://127.0.0.1:$PORT $EMAIL "$PASSWORD")
  "$BENCH/medilink-bench" http --url http://127.0.0.1:$PORT/fhir/R4 --patients "$PATIENTS" --concurrency 2 --token "$TOKEN"
  "$BENCH/medilink-bench" seed-read --url http://127.0.0.1:$PORT/fhir/R4 --count 200 --token "$TOKEN" >/dev/null
  kill $SERVER; wait $SERVER || true
  # The measured requests' admin: enrols TOTP in each copy (the loading one already did).
  "$BIN/medilink-server" --data-dir "$LOADED" user add --email measure@example.org --password "$PASSWORD" --role admin >/dev/null
fi

WORK=$(mktemp -d)
cp -a "$LOADED" "$WORK/data"
# The physician workload's accounts (in each copy, so an older $LOADED serves too).
"$BIN/medilink-server" --data-dir "$WORK/data" user add --email doctor@example.org --password "$PASSWORD" \
  --role physician --name "Dr Bench" >/dev/null
"$BIN/medilink-server" --data-dir "$WORK/data" user add --email patient@example.org --password "$PASSWORD" \
  --role patient --name "Pat Bench" --birth-date 1970-01-01 >/dev/null
COUNT="${COUNT:-instructions}"
if [ "$COUNT" = switches ]; then
  "$BIN/medilink-server" --data-dir "$WORK/data" serve --listen 127.0.0.1:$PORT --rate-limit-admin 0 \
    >"$WORK/serve.log" 2>&1 &
else
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/cg.out" \
    "$BIN/medilink-server" --data-dir "$WORK/data" serve --listen 127.0.0.1:$PORT --rate-limit-admin 0 \
    >"$WORK/serve.log" 2>&1 &
fi
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
wait_up
TOKEN=$(python3 "$HERE/admin_token.py" http://127.0.0.1:$PORT measure@example.org "$PASSWORD")
DOCTOR=$(python3 "$HERE/admin_token.py" http://127.0.0.1:$PORT doctor@example.org "$PASSWORD")
# The patient grants the physician access to all its data; prints the patient's id.
GRANTED=$(python3 - "$PORT" "$DOCTOR" "$PASSWORD" <<'EOF'
import json, sys, urllib.request
port, doctor, password = sys.argv[1:4]
base = f"http://127.0.0.1:{port}"
def call(path, token=None, body=None):
    request = urllib.request.Request(base + path, method="POST" if body is not None else "GET",
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"content-type": "application/json"})
    if token:
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request) as response:
        return json.load(response)
patient = call("/api/auth/login", body={"email": "patient@example.org", "password": password})["access_token"]
physician_id = call("/api/auth/me", doctor)["id"]
patient_id = call("/api/auth/me", patient)["patient_id"]
call("/api/consents", patient, {"grantee": physician_id, "scope": ["*"]})
print(patient_id)
EOF
)

# N requests over one keep-alive connection; fails unless every answer is 200.
run() {
  local token="$TOKEN"
  if [ "$1" = physician ]; then token="$DOCTOR"; fi
  python3 - "$PORT" "$token" "$1" "$2" "$GRANTED" <<'EOF'
import http.client, sys, urllib.parse
port, token, kind, n, granted = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=600)
headers = {"authorization": f"Bearer {token}", "accept": "application/fhir+json"}
def get(path):
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200, (path, response.status, body[:300])
    return body
if kind == "code":
    import json, collections
    codes = collections.Counter()
    bundle = json.loads(get("/fhir/R4/Observation?_count=500"))
    for entry in bundle.get("entry", []):
        for coding in entry["resource"].get("code", {}).get("coding", [])[:1]:
            codes[(coding.get("system"), coding.get("code"))] += 1
    (system, code), _ = codes.most_common(1)[0]
    print(f"{system}|{code}")
    sys.exit()
for i in range(n):
    if kind == "patient":
        get(f"/fhir/R4/Patient/read-{i % 200}")
    elif kind == "physician":
        get(f"/fhir/R4/Patient/{granted}")
    else:
        get(f"/fhir/R4/Observation?code={urllib.parse.quote(kind, safe='')}&_count=20")
EOF
}

CODE=$(run code 0)
echo "Observation code: $CODE"
# Voluntary context switches of all the server's threads so far.
voluntary() {
  cat /proc/$SERVER/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ {n += $2} END {print n}'
}
measure() {
  local name="$1" kind="$2"
  run "$kind" 20 # warm-up (caches, prepared statements)
  if [ "$COUNT" = switches ]; then
    local before after perf_out="$WORK/perf.$name"
    perf stat -e context-switches,cpu-migrations -x, -o "$perf_out" -p $SERVER &
    local perf=$!
    sleep 1
    before=$(voluntary)
    run "$kind" "$N"
    after=$(voluntary)
    kill -INT $perf; wait $perf || true
    local total
    total=$(awk -F, '/context-switches/ {print $1}' "$perf_out")
    echo "$name: $(( (after - before) / N )) voluntary switches per request ($((after - before)) for $N requests; perf context-switches incl. preemptions and 1 s idle: $total)"
    return
  fi
  callgrind_control -i on $SERVER >/dev/null
  callgrind_control -z $SERVER >/dev/null
  run "$kind" "$N"
  callgrind_control -d "$name" $SERVER >/dev/null
  callgrind_control -i off $SERVER >/dev/null
  local file total
  sleep 2
  file=$(ls -t "$WORK"/cg.out* | head -1)
  total=$(awk '/^(summary|totals):/ {print $2; exit}' "$file")
  cp "$file" "${OUT:-/tmp}/callgrind.$name.$(basename "$BIN").out" || true
  echo "$name: $((total / N)) instructions per request ($total for $N requests)"
}
measure patient-read patient
measure observation-code "$CODE"
measure physician-read physician
uptime

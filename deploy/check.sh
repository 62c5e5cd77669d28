#!/usr/bin/env bash
# Validates deploy/ without Docker (there may be no engine): configuration syntax, that the
# compose file only uses flags and environment variables the binaries accept, that alerts and
# dashboards only use metric names the code exports, then a live smoke test of the nginx config
# in front of two real servers and a worker (PostgreSQL, Redis and S3 when available locally).
#
#   deploy/check.sh
#
# Needs python3 + PyYAML, nginx (Debian nginx-light), promtool (Debian prometheus), cargo.
# Environment: MEDILINK_BIN_DIR (directory holding medilink-server and medilink-worker; else they
# are built with cargo), MEDILINK_CHECK_POSTGRES_URL (an admin URL of a PostgreSQL server, default
# postgres://postgres@127.0.0.1:5432/postgres; SQLite when unreachable), MEDILINK_CHECK_LIVE=0
# skips the live part, MEDILINK_CHECK_DASHBOARDS=1 adds the dashboards build (npm registry).
set -euo pipefail
cd "$(dirname "$0")"
DEPLOY=$PWD
WORK=$(mktemp -d)
PIDS=()
DROP_DB=""
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$DROP_DB" ]; then
        psql "$PG_ADMIN" -qAt -c "DROP DATABASE IF EXISTS $DROP_DB" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
FAILED=0
ok() { printf 'ok    %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*" >&2; FAILED=1; }
skip() { printf 'skip  %s\n' "$*"; }

# --- 1. Files parse ---------------------------------------------------------------------------
python3 - <<'EOF' && ok "YAML/JSON files parse" || fail "YAML/JSON files parse"
import json, sys, yaml
for path in ["compose.yaml", "prometheus/prometheus.yml", "prometheus/alerts.yml",
             "prometheus/alerts.test.yml", "grafana/provisioning/datasources/prometheus.yml",
             "grafana/provisioning/dashboards/medilink.yml"]:
    yaml.safe_load(open(path))
json.load(open("grafana/dashboards/medilink.json"))
compose = yaml.safe_load(open("compose.yaml"))
want = {"postgres", "redis", "minio", "minio-init", "migrate", "server-1", "server-2",
        "worker-1", "worker-2", "nginx", "prometheus", "grafana"}
missing = want - set(compose["services"])
if missing:
    sys.exit(f"compose.yaml: missing services {sorted(missing)}")
EOF

# --- 2. Binaries and their --help -------------------------------------------------------------
if [ -n "${MEDILINK_BIN_DIR:-}" ]; then
    BIN=$MEDILINK_BIN_DIR
else
    (cd .. && cargo build --locked -q -p medilink-server -p medilink-worker)
    BIN="$(cd .. && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug"
fi
[ -x "$BIN/medilink-server" ] && [ -x "$BIN/medilink-worker" ] || { echo "no binaries in $BIN" >&2; exit 1; }
"$BIN/medilink-server" serve --help >"$WORK/help-server-serve"
"$BIN/medilink-server" migrate --help >"$WORK/help-server-migrate"
"$BIN/medilink-worker" --help >"$WORK/help-worker"

# Every medilink-* service: its flags appear in the help of the command it runs, and every
# MEDILINK_*/AWS_* variable it sets is an [env: …] of that command.
python3 - "$WORK" <<'EOF' && ok "compose: every medilink flag and env var is accepted (--help)" || fail "compose flags/env vars"
import re, sys, yaml
work = sys.argv[1]
compose = yaml.safe_load(open("compose.yaml"))
bad = []
checked = 0
for name, service in compose["services"].items():
    command = service.get("command") or []
    if not command or not str(command[0]).startswith("medilink-"):
        continue
    if command[0] == "medilink-server":
        help_file = f"{work}/help-server-{command[1]}"
        flags = command[2:]
    else:
        help_file = f"{work}/help-worker"
        flags = command[1:]
    help_text = open(help_file).read()
    for flag in flags:
        if flag.startswith("--") and not re.search(r"\s" + re.escape(flag.split("=")[0]) + r"\b", help_text):
            bad.append(f"{name}: flag {flag} unknown to {' '.join(command[:2])}")
    for var in service.get("environment", {}):
        checked += 1
        if not var.startswith(("MEDILINK_", "AWS_")):
            bad.append(f"{name}: {var} is not a MediLink variable")
        elif not re.search(r"\[env: " + re.escape(var) + r"[=\]]", help_text):
            bad.append(f"{name}: {var} is not read by {' '.join(command[:2])}")
if bad:
    sys.exit("\n".join(bad))
print(f"      ({checked} variables checked)")
EOF

# Every ${VAR:?…} the compose file requires is in .env.example, which holds no secret values.
python3 - <<'EOF' && ok ".env.example: every required variable, only placeholders" || fail ".env.example"
import re, sys
compose = open("compose.yaml").read()
required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", compose))
example = dict(line.split("=", 1) for line in open(".env.example").read().splitlines()
               if line and not line.startswith("#"))
missing = required - set(example)
secretish = [k for k, v in example.items()
             if re.search("KEY$|PASSWORD$", k) and k != "S3_ACCESS_KEY_ID" and v != "REPLACE_ME"]
if missing or secretish:
    sys.exit(f"missing {sorted(missing)}; non-placeholder secrets {secretish}")
EOF

# The runtime stage (debian:bookworm-slim + libssl3) has every shared library the binaries need.
if command -v ldd >/dev/null; then
    extra=$(ldd "$BIN/medilink-server" "$BIN/medilink-worker" | awk '/=>|ld-linux/ {print $1}' \
        | grep -Ev '^(linux-vdso|/lib64/ld-linux-x86-64|libc|libm|libgcc_s|libssl|libcrypto)\.so' | sort -u || true)
    [ -z "$extra" ] && ok "binaries need only libc, libgcc_s and OpenSSL 3 (in the runtime image)" \
        || fail "shared libraries missing from the runtime image: $extra"
fi

# Optional (MEDILINK_CHECK_DASHBOARDS=1, needs npm and its registry): the Dockerfile's node stage
# (`npm ci && npm run build` with only dashboards/ present) produces both portals.
if [ "${MEDILINK_CHECK_DASHBOARDS:-0}" = 1 ]; then
    mkdir -p "$WORK/node"
    (cd .. && git archive HEAD dashboards) | tar -x -C "$WORK/node"
    if (cd "$WORK/node/dashboards" && npm ci --no-audit --no-fund >/dev/null 2>&1 && npm run build >/dev/null 2>&1) \
        && [ -f "$WORK/node/dashboards/dist/index.html" ] && [ -f "$WORK/node/dashboards/dist/patient/index.html" ]; then
        ok "Dockerfile node stage builds dashboards/dist from dashboards/ alone"
    else
        fail "dashboards build outside the repository"
    fi
else
    skip "dashboards build (MEDILINK_CHECK_DASHBOARDS=1 runs npm ci + npm run build)"
fi

# --- 3. Metric names in alerts and dashboards exist in the code -------------------------------
python3 - <<'EOF' && ok "every metric in alerts.yml and medilink.json is registered in the metrics.rs files" || fail "metric names"
import json, re, sys
code = open("../medilink-server/src/layers/metrics.rs").read() + open("../medilink-worker/src/metrics.rs").read()
registered = set(re.findall(r'register\(\s*"([a-z_]+)"', code))
used = set(re.findall(r"\b(medilink_[a-z_]+)", open("prometheus/alerts.yml").read()))
used |= set(re.findall(r"\b(medilink_[a-z_]+)", open("prometheus/alerts.test.yml").read()))
dashboard = json.load(open("grafana/dashboards/medilink.json"))
def exprs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            else:
                yield from exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from exprs(item)
for expr in exprs(dashboard):
    used |= set(re.findall(r"\b(medilink_[a-z_]+)", expr))
bad = []
for name in sorted(used):
    base = re.sub(r"_(bucket|sum|count|total)$", "", name)[len("medilink_"):]
    if base not in registered:
        bad.append(name)
if bad:
    sys.exit(f"not registered in the code: {bad} (registered: {sorted(registered)})")
print(f"      ({len(used)} names: {' '.join(sorted(used))})")
EOF

# --- 4. Prometheus ----------------------------------------------------------------------------
if command -v promtool >/dev/null 2>&1; then
    mkdir -p "$WORK/prom"
    cp prometheus/alerts.yml "$WORK/prom/alerts.yml"
    sed "s#/etc/prometheus/alerts.yml#$WORK/prom/alerts.yml#" prometheus/prometheus.yml >"$WORK/prom/prometheus.yml"
    promtool check config "$WORK/prom/prometheus.yml" >/dev/null && ok "promtool check config" || fail "promtool check config"
    promtool check rules prometheus/alerts.yml >/dev/null && ok "promtool check rules" || fail "promtool check rules"
    (cd prometheus && promtool test rules alerts.test.yml >/dev/null) && ok "promtool test rules (alerts fire on synthetic series)" || fail "promtool test rules"
else
    skip "promtool not installed (apt-get install prometheus): Prometheus config and rules unchecked"
fi

# --- 5. nginx -t on a copy whose upstreams and paths are local --------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
NGINX_PORT=$(free_port); S1_PORT=$(free_port); S2_PORT=$(free_port); W_PORT=$(free_port)
mkdir -p "$WORK/nginx/logs"
sed -e "s#server-1:8080#127.0.0.1:$S1_PORT#" -e "s#server-2:8080#127.0.0.1:$S2_PORT#" \
    -e "s#listen 80 default_server#listen 127.0.0.1:$NGINX_PORT default_server#" \
    -e "s#pid /var/run/nginx.pid#pid $WORK/nginx/nginx.pid#" \
    nginx/nginx.conf >"$WORK/nginx/nginx.conf"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ -x "$NGINX" ]; then
    if "$NGINX" -t -q -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e stderr; then
        ok "nginx -t (upstreams mapped to 127.0.0.1)"
    else
        fail "nginx -t"
    fi
else
    skip "nginx not installed (apt-get install nginx-light): nginx.conf unchecked"
fi

# --- 6. Live: two servers + a worker with the compose environment, behind the nginx copy -------
if [ "${MEDILINK_CHECK_LIVE:-1}" = 0 ] || [ ! -x "$NGINX" ]; then
    skip "live smoke test"
    [ "$FAILED" = 0 ] && echo "deploy/check.sh: all checks passed" || { echo "deploy/check.sh: FAILED" >&2; exit 1; }
    exit 0
fi
PG_ADMIN=${MEDILINK_CHECK_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
if command -v psql >/dev/null && psql "$PG_ADMIN" -qAt -c "select 1" >/dev/null 2>&1; then
    DB=deploy_check_$$
    psql "$PG_ADMIN" -qAt -c "CREATE DATABASE $DB" >/dev/null
    DROP_DB=$DB
    DATABASE_URL="${PG_ADMIN%/*}/$DB"
    BACKENDS="PostgreSQL"
else
    DATABASE_URL="sqlite://$WORK/shared.db?mode=rwc"
    BACKENDS="SQLite"
fi
REDIS_URL=""
if command -v redis-server >/dev/null; then
    REDIS_PORT=$(free_port)
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --requirepass checkpass --save "" --appendonly no \
        --dir "$WORK" >"$WORK/redis.log" 2>&1 &
    PIDS+=($!)
    REDIS_URL="redis://:checkpass@127.0.0.1:$REDIS_PORT/0"
    BACKENDS="$BACKENDS + Redis"
fi
BLOB_URL="fs://$WORK/blobs"
if command -v moto_server >/dev/null && python3 -c 'import boto3' 2>/dev/null; then
    S3_PORT=$(free_port)
    moto_server -H 127.0.0.1 -p "$S3_PORT" >"$WORK/moto.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$S3_PORT/" && break; sleep 0.2; done
    python3 -c "import boto3; boto3.client('s3', endpoint_url='http://127.0.0.1:$S3_PORT', region_name='us-east-1', aws_access_key_id='check', aws_secret_access_key='check').create_bucket(Bucket='medilink')"
    BLOB_URL="s3://medilink?endpoint=http://127.0.0.1:$S3_PORT&region=us-east-1"
    BACKENDS="$BACKENDS + S3 (moto)"
else
    mkdir -p "$WORK/blobs"
fi

# The environment of each compose service, ${…} resolved with generated secrets and the local
# backends substituted for the compose hosts.
env_of() {
    python3 - "$1" "$2" <<'EOF'
import base64, os, re, shlex, sys, yaml
service, port = sys.argv[1], sys.argv[2]
compose = yaml.safe_load(open("compose.yaml"))
example = dict(l.split("=", 1) for l in open(".env.example").read().splitlines() if l and not l.startswith("#"))
values = {k: ("x" * 8 if v == "REPLACE_ME" else v) for k, v in example.items()}
for key in ("MEDILINK_AUTH_JWT_KEY", "MEDILINK_AUTH_ENCRYPTION_KEY", "MEDILINK_AUTH_LOOKUP_KEY", "MEDILINK_RESEARCH_KEY"):
    values[key] = base64.b64encode(bytes(range(len(key), len(key) + 32))).decode()
values["S3_ACCESS_KEY_ID"] = values["S3_SECRET_ACCESS_KEY"] = "check"
def resolve(text):
    return re.sub(r"\$\{([A-Z0-9_]+)(?::[-?][^}]*)?\}", lambda m: values.get(m.group(1), ""), str(text))
env = {k: resolve(v) for k, v in compose["services"][service]["environment"].items()}
local = {"MEDILINK_DATABASE_URL": os.environ["DATABASE_URL"], "MEDILINK_BLOB_URL": os.environ["BLOB_URL"]}
if os.environ["REDIS_URL"]:
    local["MEDILINK_REDIS_URL"] = os.environ["REDIS_URL"]
for key in list(env):
    if key in local:
        env[key] = local[key]
    elif key == "MEDILINK_REDIS_URL":
        del env[key]
    elif key in ("MEDILINK_SERVER_LISTEN", "MEDILINK_WORKER_METRICS_LISTEN"):
        env[key] = f"127.0.0.1:{port}"
if "MEDILINK_SMART_SIGNING_KEY" in env:
    # The container's mounted PEM (issue #17): one generated key for every local server.
    pem = f"{os.environ['WORK']}/smart-signing.pem"
    if not os.path.exists(pem):
        import subprocess
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                        "-out", pem], check=True, capture_output=True)
    env["MEDILINK_SMART_SIGNING_KEY"] = pem
env["MEDILINK_DATA_DIR"] = f"{os.environ['WORK']}/{service}"
for key, value in env.items():
    print(f"export {key}={shlex.quote(value)}")
EOF
}
export WORK DATABASE_URL BLOB_URL REDIS_URL
start() { # service port command…
    local service=$1 port=$2; shift 2
    (eval "$(env_of "$service" "$port")"; exec "$@") >"$WORK/$service.log" 2>&1 &
    PIDS+=($!)
}
wait_http() { # url [tries]
    for _ in $(seq "${2:-150}"); do curl -fs -o /dev/null "$1" && return 0; sleep 0.2; done
    return 1
}
echo "      live: $BACKENDS"
if (eval "$(env_of migrate 0)"; exec "$BIN/medilink-server" migrate) >"$WORK/migrate.log" 2>&1; then
    ok "migrate service's command and environment (medilink-server migrate)"
else
    fail "migrate: $(tail -3 "$WORK/migrate.log")"
fi
start server-1 "$S1_PORT" "$BIN/medilink-server" serve --no-worker
start server-2 "$S2_PORT" "$BIN/medilink-server" serve --no-worker
start worker-1 "$W_PORT" "$BIN/medilink-worker"
if wait_http "http://127.0.0.1:$S1_PORT/health/ready" && wait_http "http://127.0.0.1:$S2_PORT/health/ready"; then
    ok "both servers ready with the compose environment (production, --no-worker, --no-migrate)"
else
    fail "servers did not become ready: $(tail -3 "$WORK/server-1.log") $(tail -3 "$WORK/server-2.log")"
fi
if wait_http "http://127.0.0.1:$W_PORT/metrics"; then
    ok "worker up with the compose environment, /metrics on --metrics-listen"
else
    fail "worker: $(tail -3 "$WORK/worker-1.log")"
fi
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e stderr -g 'daemon off;' >"$WORK/nginx.log" 2>&1 &
PIDS+=($!)
NG="http://127.0.0.1:$NGINX_PORT"
wait_http "$NG/health" 50 || fail "nginx did not start: $(tail -3 "$WORK/nginx.log")"

expect() { # description expected-status curl-args…
    local what=$1 want=$2; shift 2
    local got
    got=$(curl -s -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' "$@")
    if [ "$got" = "$want" ]; then
        ok "$what"
    else
        fail "$what: status $got, expected $want: $(tr -d '\r' <"$WORK/headers" | tr '\n' ' ') $(head -c 300 "$WORK/body")"
    fi
}
expect "nginx → /health/ready 200" 200 "$NG/health/ready"
expect "nginx refuses /metrics (403)" 403 "$NG/metrics"
expect "nginx refuses //metrics too (403)" 403 "$NG//metrics"
expect "nginx → /fhir/R4/metadata 200" 200 -H 'Accept-Encoding: gzip' "$NG/fhir/R4/metadata"
grep -qi '^content-encoding: gzip' "$WORK/headers" && ok "FHIR JSON gzipped" || fail "FHIR JSON not gzipped"
csp=$(grep -ci '^content-security-policy:' "$WORK/headers" || true)
xfo=$(grep -ci '^x-frame-options:' "$WORK/headers" || true)
[ "$csp" = 1 ] && [ "$xfo" = 1 ] && ok "security headers sent once (server's, not duplicated)" || fail "CSP x$csp, X-Frame-Options x$xfo"
grep -qi '^x-request-id:' "$WORK/headers" && ok "X-Request-Id passed through" || fail "no X-Request-Id"
curl -s -o /dev/null -H 'X-Request-Id: check-request-42' -D "$WORK/headers" "$NG/health"
grep -qi '^x-request-id: check-request-42' "$WORK/headers" && ok "client X-Request-Id kept end to end" || fail "client X-Request-Id replaced"
head -c $((18 * 1024 * 1024)) /dev/zero >"$WORK/big"
expect "nginx 413 above 17m, as an OperationOutcome" 413 -X POST -H 'Content-Type: application/fhir+json' --data-binary @"$WORK/big" "$NG/fhir/R4/Patient"
grep -q '"resourceType":"OperationOutcome"' "$WORK/body" || fail "nginx 413 body is not an OperationOutcome"
# A 20 MiB upload is not refused by nginx's limit for /api/documents (21m). The server answers
# 401 without a token; it does so before reading the body and closes the connection, so nginx
# sometimes sees the connection reset first and answers 502 (an OperationOutcome).
head -c $((20 * 1024 * 1024)) /dev/zero >"$WORK/doc"
got=$(curl -s -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' -X POST \
    -F "file=@$WORK/doc;type=application/pdf" -F patient=Patient/x "$NG/api/documents")
case $got in
    401) ok "20 MiB document upload passes nginx (server: 401 without a token)" ;;
    502) ok "20 MiB document upload passes nginx (server closed early: nginx 502 OperationOutcome)"
         grep -q '"resourceType":"OperationOutcome"' "$WORK/body" || fail "502 body is not an OperationOutcome" ;;
    *) fail "20 MiB document upload: status $got: $(head -c 300 "$WORK/body")" ;;
esac
for _ in $(seq 20); do curl -s -o /dev/null "$NG/health"; done
s1=$(curl -s "http://127.0.0.1:$S1_PORT/metrics" | grep -c '^medilink_http_requests_total{.*route="/health"' || true)
s2=$(curl -s "http://127.0.0.1:$S2_PORT/metrics" | grep -c '^medilink_http_requests_total{.*route="/health"' || true)
[ "$s1" -ge 1 ] && [ "$s2" -ge 1 ] && ok "nginx balances over both servers" || fail "requests reached server-1: $s1 series, server-2: $s2 series"

# What the servers receive from nginx, seen by a header-echoing upstream behind a second copy:
# a client-sent X-Forwarded-For must be replaced by the peer address (the server trusts its
# first entry), Host and X-Forwarded-Proto passed.
ECHO_PORT=$(free_port); NG2_PORT=$(free_port)
python3 - "$ECHO_PORT" >"$WORK/echo.log" 2>&1 <<'EOF' &
import http.server, json, sys
class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
EOF
PIDS+=($!)
mkdir -p "$WORK/nginx2/logs"
sed -e "s#127.0.0.1:$S1_PORT#127.0.0.1:$ECHO_PORT#" -e "s#127.0.0.1:$S2_PORT#127.0.0.1:$ECHO_PORT#" \
    -e "s#listen 127.0.0.1:$NGINX_PORT #listen 127.0.0.1:$NG2_PORT #" \
    -e "s#$WORK/nginx/nginx.pid#$WORK/nginx2/nginx.pid#" \
    "$WORK/nginx/nginx.conf" >"$WORK/nginx2/nginx.conf"
"$NGINX" -p "$WORK/nginx2" -c "$WORK/nginx2/nginx.conf" -e stderr -g 'daemon off;' >"$WORK/nginx2.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$NG2_PORT/health" 50 || fail "second nginx did not start: $(tail -3 "$WORK/nginx2.log")"
curl -s -H 'X-Forwarded-For: 203.0.113.66' -H 'Host: medilink.example' \
    "http://127.0.0.1:$NG2_PORT/fhir/R4/Patient?name=x" >"$WORK/echo.json" || true
python3 - "$WORK/echo.json" <<'EOF' && ok "nginx replaces a client's X-Forwarded-For with the peer; passes Host, X-Forwarded-Proto, X-Request-Id" || fail "forwarded headers: $(cat "$WORK/echo.json")"
import json, sys
seen = json.load(open(sys.argv[1]))
assert seen.get("x-forwarded-for") == "127.0.0.1", seen
assert seen.get("x-forwarded-proto") == "http", seen
assert seen.get("host") == "medilink.example", seen
assert seen.get("x-request-id"), seen
EOF

# Every metric used in alerts and dashboards is in a live exposition (families from # TYPE).
curl -s "http://127.0.0.1:$S1_PORT/metrics" >"$WORK/metrics-server"
curl -s "http://127.0.0.1:$W_PORT/metrics" >"$WORK/metrics-worker"
python3 - "$WORK" <<'EOF' && ok "every metric in alerts/dashboards is exported live, with the right type" || fail "live metric names"
import json, re, sys
work = sys.argv[1]
types = {}
for file in ("metrics-server", "metrics-worker"):
    for family, kind in re.findall(r"^# TYPE (\S+) (\S+)$", open(f"{work}/{file}").read(), re.M):
        types[family] = kind
text = open("prometheus/alerts.yml").read() + open("grafana/dashboards/medilink.json").read()
bad, unseen = [], []
for name in sorted(set(re.findall(r"\b(medilink_[a-z_]+)", text))):
    if name.endswith("_total"):
        kind = types.get(name, types.get(name[:-6]))
        want = "counter"
    elif re.search(r"_(bucket|sum|count)$", name):
        kind = types.get(re.sub(r"_(bucket|sum|count)$", "", name))
        want = "histogram"
    else:
        kind = types.get(name)
        want = kind or "gauge"
    if kind is None:
        # A labelled family shows up at its first sample (e.g. no job has failed yet); step 3
        # checked that the code registers it.
        unseen.append(name)
    elif kind != want:
        bad.append(f"{name} is a {kind}, used as a {want}")
if bad:
    sys.exit(f"{bad}; live families: {types}")
if unseen:
    print(f"      (no sample yet, registered in the code: {' '.join(unseen)})")
EOF

if [ "$FAILED" = 0 ]; then
    echo "deploy/check.sh: all checks passed"
else
    echo "deploy/check.sh: FAILED" >&2
    exit 1
fi

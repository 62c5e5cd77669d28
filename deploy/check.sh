#!/usr/bin/env bash
# Validates deploy/ without Docker (there may be no engine): configuration syntax, that the
# compose file only uses flags and environment variables the binaries accept, that alerts and
# dashboards only use metric names the code exports, `nginx -t`, then the scale-out test
# (medilink-server/tests/it/scale_out.rs: nginx as deployed in front of two real servers and two
# workers on PostgreSQL, Redis and S3, one server and one worker killed under load).
#
#   deploy/check.sh
#
# Needs python3 + PyYAML, nginx (Debian nginx-light), promtool (Debian prometheus), cargo.
# Environment: MEDILINK_BIN_DIR (directory holding medilink-server and medilink-worker for the
# --help checks; else they are built with cargo), MEDILINK_TEST_POSTGRES_URL,
# MEDILINK_TEST_REDIS_URL, MEDILINK_TEST_S3_ENDPOINT (the live test's services, defaults as
# scripts/setup starts them: 127.0.0.1:5432/test, :6379, moto on :5900), MEDILINK_CHECK_LIVE=0
# skips the live part, MEDILINK_CHECK_DASHBOARDS=1 adds the dashboards build (npm registry).
set -euo pipefail
cd "$(dirname "$0")"
DEPLOY=$PWD
WORK=$(mktemp -d)
cleanup() {
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
NGINX_PORT=$(free_port); S1_PORT=$(free_port); S2_PORT=$(free_port)
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

# --- 6. Live: the scale-out test ---------------------------------------------------------------
# Not a second copy here: medilink-server/tests/it/scale_out.rs (run by `cargo test --workspace`,
# so by .ci/run) starts two servers and two workers on PostgreSQL, Redis and S3 (moto) behind
# this nginx config, checks what nginx does in front of them (/metrics refused, gzip, security
# headers once, request ids kept, its 413 as an OperationOutcome, a 20 MiB upload passed on,
# X-Forwarded-For replaced, every alert/dashboard metric live with its type), then loads it
# while one server and one worker are SIGKILLed and restarted, and proves nothing answered was
# lost. Its figures are printed (BENCHMARKS.md, "Issue #19: two servers behind nginx").
if [ "${MEDILINK_CHECK_LIVE:-1}" = 0 ]; then
    skip "live scale-out test (MEDILINK_CHECK_LIVE=0)"
else
    export MEDILINK_TEST_POSTGRES_URL="${MEDILINK_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
    export MEDILINK_TEST_REDIS_URL="${MEDILINK_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
    export MEDILINK_TEST_S3_ENDPOINT="${MEDILINK_TEST_S3_ENDPOINT:-http://127.0.0.1:5900}"
    if (cd .. && cargo test --locked -q -p medilink-server --test it -- scale_out --nocapture) \
        >"$WORK/scale-out.log" 2>&1 && grep -q '1 passed' "$WORK/scale-out.log"; then
        ok "live: scale-out test (nginx as deployed; two servers, two workers; one of each SIGKILLed under load)"
        grep '^scale-out' "$WORK/scale-out.log" | sed 's/^/      /' || true
    else
        fail "live: scale-out test: $(tail -40 "$WORK/scale-out.log")"
    fi
fi

if [ "$FAILED" = 0 ]; then
    echo "deploy/check.sh: all checks passed"
else
    echo "deploy/check.sh: FAILED" >&2
    exit 1
fi

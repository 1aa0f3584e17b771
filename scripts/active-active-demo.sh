#!/usr/bin/env bash
# The seed's active-active deployment (docs/active-active.md), step by step, on one machine:
# PostgreSQL, two Portico nodes by port offset (1 and 2), nginx in front on WSO2's own ports
# (9443, 8243, 8280) with the configuration `portico lb nginx` prints, then WSO2's quick-start
# Postman collection run through nginx under newman, and `portico cluster status` at the end.
#
# Needs: PostgreSQL at $PORTICO_DEMO_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres,
# a user that may create databases), nginx, curl, Node.js with npm (newman 6 is installed into
# $NEWMAN_DIR, default ~/.cache/portico-newman, when missing), and the ports 9443, 8243, 8280 and
# the nodes' (9444-9445, 8244-8245, 8281-8282, 9612-9613) free.
# Binary: $PORTICO_BIN, else $CARGO_TARGET_DIR/debug/portico (built with cargo when missing).
# Everything lives in a temporary directory and a database of its own, both removed at the end
# (KEEP=1 keeps them, and leaves the processes running for a look around).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/portico-target}"
export PATH="$PATH:/usr/sbin"
PG="${PORTICO_DEMO_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
BIN="${PORTICO_BIN:-$CARGO_TARGET_DIR/debug/portico}"
COLLECTION="$PWD/scripts/wso2/quick-start-postman-collection.json"
NEWMAN_DIR="${NEWMAN_DIR:-$HOME/.cache/portico-newman}"
NEWMAN="$NEWMAN_DIR/node_modules/.bin/newman"

fail() { echo "active-active-demo: $*" >&2; exit 1; }
for tool in nginx curl psql node npm; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is required"
done
for port in 9443 8243 8280 9444 9445 8244 8245 8281 8282 9612 9613; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then fail "port $port is taken"; fi
done
if [ ! -x "$BIN" ]; then cargo build --locked -p portico; fi
[ -x "$BIN" ] || fail "no portico binary at $BIN"
if [ ! -x "$NEWMAN" ]; then
  mkdir -p "$NEWMAN_DIR"
  npm install --silent --no-audit --no-fund --prefix "$NEWMAN_DIR" newman@6 >/dev/null || fail "npm install newman@6 failed"
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/portico-active-active.XXXXXX")
DB_NAME="portico_demo_$$"
DB="${PG%/*}/$DB_NAME"
pids=()
cleanup() {
  if [ "${KEEP:-}" = 1 ]; then
    echo "KEEP=1: left running (pids ${pids[*]}); files in $W, database $DB_NAME"
    return
  fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql "$PG" -qc "drop database if exists \"$DB_NAME\" with (force)" >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT

# Shows a command, then runs it.
run() { echo "\$ $*" | sed "s|$BIN|portico|g; s|$W/||g"; "$@"; }
step() { echo; echo "== Step $1"; }
wait_ready() { # URL, label
  for _ in $(seq 1 120); do
    curl -ksf -o /dev/null "$1" && return 0
    sleep 0.5
  done
  fail "$2 did not become ready at $1"
}
cd "$W"

step "1 - Create an SSL certificate (node 1): portico init makes its key pair and certificate"
run "$BIN" init --home node1 --offset 1 --database-url "$DB" --admin-password admin
run "$BIN" cert show --home node1

step "2 - Configure the load balancer: nginx on WSO2's ports, in front of both nodes"
lb=(lb nginx --node 127.0.0.1:1 --node 127.0.0.1:2 --server-name localhost
  --cert node1/conf/security/node-cert.pem --key node1/conf/security/node-key.pem
  --node-cert node1/conf/security/node-cert.pem)
echo "\$ portico ${lb[*]} > portico-lb.conf"
"$BIN" "${lb[@]}" > portico-lb.conf
grep -E '^(upstream|server) |^    (server|hash|listen) ' portico-lb.conf
mkdir -p nginx/logs
cat > nginx/nginx.conf <<EOF
worker_processes 1;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log notice;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $W/nginx/client_body;
    proxy_temp_path $W/nginx/proxy;
    fastcgi_temp_path $W/nginx/fastcgi;
    uwsgi_temp_path $W/nginx/uwsgi;
    scgi_temp_path $W/nginx/scgi;
    include $W/portico-lb.conf;
}
EOF
run nginx -t -q -p nginx -c "$W/nginx/nginx.conf"

step "3 - Configure the database: one PostgreSQL database; node 1's first start creates the schema"
run psql "$PG" -qc "create database \"$DB_NAME\""
echo "\$ portico serve --home node1 &"
"$BIN" serve --home node1 > node1.log 2>&1 &
pids+=($!)
wait_ready https://localhost:9444/health/ready "node 1"
echo "node 1 is ready on https://localhost:9444"

step "4 - Publisher and gateway: only with [deployment] sync = \"rsync\" (service_url naming node 1); this demo uses \"database\""
grep -n 'service_url' node1/conf/deployment.toml

step "5 - Content synchronisation: [deployment] sync = \"database\" (the default): every node writes its gateway's artifacts from the database"
grep -n '^sync' node1/conf/deployment.toml

step "6 - Throttling: every node runs a Traffic Manager (9611 + offset); gateways find them in the node registry"
grep -n -A2 '^\[transport.traffic_manager\]' node1/conf/deployment.toml || true

step "7 - The second node: a copy of node 1's conf/security/, carried over, then init --join"
run cp -r node1/conf/security node1-security
run "$BIN" init --home node2 --offset 2 --database-url "$DB" --join node1-security

step "8 - Production hardening: keys readable by their owner only, configuration checked"
run stat -c '%A %n' node2/conf/security/node-key.pem
run "$BIN" config check --home node1
run "$BIN" config check --home node2

step "9 - Analytics: each gateway hands a record of every request to its node (throttling uses them); nothing to set up"

step "10 - Start the servers: node 2, then nginx"
echo "\$ portico serve --home node2 &"
"$BIN" serve --home node2 > node2.log 2>&1 &
pids+=($!)
wait_ready https://localhost:9445/health/ready "node 2"
echo "\$ nginx -p nginx -c nginx/nginx.conf -g 'daemon off;' &"
nginx -p "$W/nginx" -c "$W/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
wait_ready https://localhost:9443/health/ready "nginx (management)"
run curl -ks https://localhost:9443/health/ready
echo

echo
echo "== WSO2's quick-start collection through nginx (https://localhost:9443 and :8243)"
"$NEWMAN" run "$COLLECTION" --insecure --color off --reporters cli,json \
  --reporter-json-export "$W/newman.json" \
  --env-var publisherBasePath=/api/am/publisher/v4 --env-var devportalBasePath=/api/am/devportal/v3 \
  > newman.log 2>&1 || { tail -60 newman.log; fail "newman failed"; }
node - "$W/newman.json" <<'EOF'
const run = require(process.argv[2]).run;
let bad = 0;
for (const e of run.executions) {
  const code = e.response ? e.response.code : null;
  if (!code || code < 200 || code > 299) { console.error(`  FAIL ${e.item.name}: HTTP ${code}`); bad++; }
  if (/^Invoke API/.test(e.item.name) && e.response) {
    const menu = JSON.parse(Buffer.from(e.response.stream.data).toString());
    console.log(`  ${e.item.name} (through nginx): ${menu.length} menu items, first ${menu[0].name}`);
  }
}
const s = run.stats;
console.log(`  requests ${s.requests.total} (failed ${s.requests.failed}), assertions ${s.assertions.total} (failed ${s.assertions.failed})`);
process.exit(bad || s.requests.failed || s.assertions.failed ? 1 : 0);
EOF

echo
echo "== The cluster"
sleep 6 # one heartbeat (5 s) after the deployment, so both nodes report it
run "$BIN" cluster status --home node1

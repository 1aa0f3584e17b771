#!/usr/bin/env bash
# Runs WSO2's official API Manager quick-start Postman collection, unchanged, with newman against
# fresh Portico nodes on WSO2's default ports (the collection hard-codes https://localhost:9443
# and https://localhost:8243). Two runs, each on a new node home:
#   1. the collection's own defaults (Publisher /api/am/publisher/v2, DevPortal /api/am/devportal/v2);
#   2. the current versions (--env-var publisherBasePath=/api/am/publisher/v4
#      --env-var devportalBasePath=/api/am/devportal/v3).
# Every request must answer 2xx, every test script must run without error, and both gateway
# invocations must return the sample backend's menu. Exits non-zero otherwise.
#
# Binary: $PORTICO_BIN, else $CARGO_TARGET_DIR/debug/portico (built by scripts/test.sh), built
# with `cargo build` when missing. newman 6 is installed with npm into $NEWMAN_DIR
# (default ~/.cache/portico-newman) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/portico-target}"
COLLECTION="$PWD/scripts/wso2/quick-start-postman-collection.json"
NEWMAN_DIR="${NEWMAN_DIR:-$HOME/.cache/portico-newman}"
BIN="${PORTICO_BIN:-$CARGO_TARGET_DIR/debug/portico}"

fail() { echo "quick-start-collection: $*" >&2; exit 1; }
command -v node >/dev/null 2>&1 || fail "node (Node.js) is required to run newman; install Node.js 18+"
command -v npm >/dev/null 2>&1 || fail "npm is required to install newman; install Node.js with npm"
command -v curl >/dev/null 2>&1 || fail "curl is required"

NEWMAN="$NEWMAN_DIR/node_modules/.bin/newman"
if [ ! -x "$NEWMAN" ]; then
  echo "== installing newman 6 into $NEWMAN_DIR"
  mkdir -p "$NEWMAN_DIR"
  npm install --silent --no-audit --no-fund --prefix "$NEWMAN_DIR" newman@6 >/dev/null \
    || fail "npm install newman@6 failed"
fi
[ -x "$NEWMAN" ] || fail "newman is not at $NEWMAN after npm install"

if [ ! -x "$BIN" ]; then
  echo "== building $BIN"
  cargo build --locked -p portico
fi
[ -x "$BIN" ] || fail "no portico binary at $BIN"

for port in 9443 8243 8280; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    fail "port $port is taken (the collection needs WSO2's default ports 9443, 8243 and 8280 free)"
  fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/portico-quick-start.XXXXXX")
pid=""
stop_node() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  pid=""
}
trap 'stop_node; rm -rf "$work"' EXIT

# Checks newman's JSON report: every response 2xx, no failures, both invocations a menu.
check_report() {
  node - "$1" <<'EOF'
const report = require(process.argv[2]);
const run = report.run;
let bad = 0;
for (const e of run.executions) {
  const name = e.item.name;
  const code = e.response ? e.response.code : null;
  if (!code || code < 200 || code > 299) {
    const body = e.response && e.response.stream ? Buffer.from(e.response.stream.data).toString() : '';
    console.error(`  FAIL ${name}: HTTP ${code} ${body.slice(0, 300)}`);
    bad++;
  }
  if (/^Invoke API/.test(name) && e.response) {
    let menu = null;
    try { menu = JSON.parse(Buffer.from(e.response.stream.data).toString()); } catch (_) {}
    if (!Array.isArray(menu) || menu.length === 0 || !menu[0].name) {
      console.error(`  FAIL ${name}: not the PizzaShack menu`);
      bad++;
    } else {
      console.log(`  ${name}: ${menu.length} menu items (first: ${menu[0].name})`);
    }
  }
}
for (const f of run.failures) {
  console.error(`  FAIL ${f.source ? f.source.name : '?'}: ${f.error ? f.error.name + ': ' + f.error.message : 'failure'}`);
  bad++;
}
const s = run.stats;
console.log(`  requests ${s.requests.total} (failed ${s.requests.failed}), test scripts ${s.testScripts.total} (failed ${s.testScripts.failed}), prerequest scripts ${s.prerequestScripts.total} (failed ${s.prerequestScripts.failed}), assertions ${s.assertions.total} (failed ${s.assertions.failed})`);
// 21 requests of the collection (pm.sendRequest calls of the pre-request scripts come on top).
const items = new Set(run.executions.map((e) => e.item.id)).size;
if (items !== 21) { console.error(`  FAIL expected the collection's 21 requests, ran ${items}`); bad++; }
process.exit(bad ? 1 : 0);
EOF
}

status=0
run_once() {
  local label=$1; shift
  local home="$work/$label"
  echo "== run '$label': fresh node at $home"
  "$BIN" init --home "$home" --admin-password admin >"$work/$label-init.log" 2>&1 \
    || { cat "$work/$label-init.log" >&2; fail "portico init failed"; }
  "$BIN" serve --home "$home" >"$work/$label-serve.log" 2>&1 &
  pid=$!
  local ready=""
  for _ in $(seq 1 120); do
    if curl -ksf -o /dev/null https://localhost:9443/health/ready; then ready=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if [ -z "$ready" ]; then
    tail -50 "$work/$label-serve.log" >&2
    fail "the node did not become ready on https://localhost:9443/health/ready"
  fi
  local rc=0
  "$NEWMAN" run "$COLLECTION" --insecure --color off --reporters cli,json \
    --reporter-json-export "$work/$label-report.json" "$@" || rc=$?
  if ! check_report "$work/$label-report.json"; then rc=1; fi
  stop_node
  if [ "$rc" -ne 0 ]; then
    echo "== run '$label' FAILED; the node's log:" >&2
    tail -40 "$work/$label-serve.log" >&2
    status=1
  else
    echo "== run '$label' passed"
  fi
}

run_once collection-defaults
run_once current-versions \
  --env-var publisherBasePath=/api/am/publisher/v4 \
  --env-var devportalBasePath=/api/am/devportal/v3

if [ "$status" -ne 0 ]; then fail "the quick-start collection did not pass"; fi
echo "quick-start-collection: both runs passed"

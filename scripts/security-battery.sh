#!/usr/bin/env bash
# The security battery's tool-driven parts (SECURITY.md): fuzzing with cargo-fuzz, then
# property-based testing of the REST APIs against WSO2's OpenAPI documents with schemathesis.
# The attack suite runs inside `cargo test` (crates/portico/tests/attacks_*.rs). Prints totals.
#
# Fuzzing: cargo-fuzz needs nightly compiler flags (-Zsanitizer, -Cpasses=sancov-module); only
# the stable toolchain exists here, so it runs with RUSTC_BOOTSTRAP=1. No sanitizer: the
# workspace forbids unsafe code, so AddressSanitizer would find nothing libFuzzer's panic and
# timeout detection does not; debug assertions (overflow checks) are on. Each target runs
# FUZZ_SECONDS (default 15) on a copy of its corpus in fuzz/corpus/<target>/ (the repo's corpus
# is not changed). Builds go to FUZZ_TARGET_DIR (default ~/.cache/portico-fuzz-target).
#
# schemathesis: against a fresh node of PORTICO_BIN (default $CARGO_TARGET_DIR/debug/portico,
# built by scripts/test.sh), WSO2's documents from WSO2_REST_DIR (default ../shared/wso2-rest),
# SCHEMATHESIS_EXAMPLES examples per operation (default 10); deviations must be listed in
# security/schemathesis-baseline.yaml.
#
# Under CI=true a missing tool fails the run; otherwise that part is skipped with a note.
# SECURITY_BATTERY=fuzz or =schemathesis runs one part only.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/portico-target}"
FUZZ_SECONDS="${FUZZ_SECONDS:-15}"
FUZZ_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/portico-fuzz-target}"
WSO2_REST_DIR="${WSO2_REST_DIR:-../shared/wso2-rest}"
PORTICO_BIN="${PORTICO_BIN:-$CARGO_TARGET_DIR/debug/portico}"
PARTS="${SECURITY_BATTERY:-fuzz schemathesis}"

missing() {
  if [ "${CI:-}" = "true" ]; then
    echo "security-battery: $1 is missing (CI=true: failing)" >&2
    exit 1
  fi
  echo "security-battery: $1 is missing: skipping $2"
}

fuzz_part() {
  if ! cargo fuzz --version >/dev/null 2>&1; then
    missing "cargo-fuzz (cargo install cargo-fuzz)" "fuzzing"
    return
  fi
  local targets
  targets=$(cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz list)
  echo "== fuzz: building $(echo "$targets" | wc -l) targets (RUSTC_BOOTSTRAP=1, no sanitizer, debug assertions)"
  local built_at=$(date +%s)
  (cd fuzz && RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$FUZZ_TARGET_DIR" cargo fuzz build --sanitizer none --debug-assertions)
  echo "fuzz: build took $(( $(date +%s) - built_at )) s"
  local work total=0 failed=0
  work=$(mktemp -d)
  for target in $targets; do
    mkdir -p "$work/$target"
    local log="$work/$target.log"
    local status=0
    (cd fuzz && RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$FUZZ_TARGET_DIR" cargo fuzz run --sanitizer none \
      --debug-assertions "$target" "$work/$target" "corpus/$target" -- \
      -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 -timeout=10 -rss_limit_mb=1024) >"$log" 2>&1 || status=$?
    local runs
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    runs=${runs:-0}
    total=$(( total + runs ))
    if [ "$status" -ne 0 ]; then
      failed=$(( failed + 1 ))
      echo "fuzz $target: FAILED after $runs executions (exit $status); the input is in fuzz/artifacts/$target/:"
      tail -40 "$log"
    else
      echo "fuzz $target: $runs executions in ${FUZZ_SECONDS} s, no crash ($(ls "$work/$target" | wc -l) new corpus entries)"
    fi
  done
  rm -rf "$work"
  echo "fuzz totals: $(echo "$targets" | wc -l) targets, $total executions, $failed failed"
  [ "$failed" -eq 0 ] || { echo "security-battery: fuzzing found crashes" >&2; exit 1; }
}

schemathesis_part() {
  if ! command -v st >/dev/null 2>&1; then
    missing "schemathesis (pip install schemathesis)" "property-based API testing"
    return
  fi
  if [ ! -d "$WSO2_REST_DIR" ]; then
    missing "WSO2's OpenAPI documents ($WSO2_REST_DIR)" "property-based API testing"
    return
  fi
  if [ ! -x "$PORTICO_BIN" ]; then
    echo "== building $PORTICO_BIN"
    cargo build -p portico --locked
  fi
  echo "== schemathesis against WSO2's publisher, devportal and admin documents"
  python3 security/schemathesis_run.py --bin "$PORTICO_BIN" --docs "$WSO2_REST_DIR"
}

started=$(date +%s)
for part in $PARTS; do
  case "$part" in
    fuzz) fuzz_part ;;
    schemathesis) schemathesis_part ;;
    *) echo "security-battery: unknown part $part" >&2; exit 2 ;;
  esac
done
echo "security-battery: passed in $(( $(date +%s) - started )) s"

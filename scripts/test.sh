#!/usr/bin/env bash
# Runs every check: formatting, clippy with warnings as errors, the whole test suite, and WSO2's
# quick-start Postman collection under newman (needs Node.js/npm and free ports 9443/8243/8280).
# PostgreSQL tests run when PORTICO_TEST_PG_URL is set (they fail instead of skipping when CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/portico-target}"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
if [ -n "${PORTICO_TEST_PG_URL:-}" ]; then pg="at $PORTICO_TEST_PG_URL"; else pg="skipped: PORTICO_TEST_PG_URL unset"; fi
echo "== cargo test (SQLite everywhere; PostgreSQL $pg)"
cargo test --workspace --locked -- --color never
echo "== WSO2's quick-start Postman collection under newman"
scripts/quick-start-collection.sh

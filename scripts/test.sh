#!/usr/bin/env bash
# Runs PAN's whole test suite from a clean clone.
#
# The end-to-end tests start real fabric-manager and panctl processes, so the
# workspace binaries are built first. cargo-nextest is used when present
# (it is on PAN's development machines); plain `cargo test` otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> building workspace binaries"
cargo build --workspace --bins

if cargo nextest --version >/dev/null 2>&1; then
  echo "==> cargo nextest run --workspace"
  cargo nextest run --workspace --no-fail-fast "$@"
else
  echo "==> cargo test --workspace (cargo-nextest not installed)"
  cargo test --workspace --no-fail-fast "$@"
fi

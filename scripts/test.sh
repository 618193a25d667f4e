#!/usr/bin/env bash
# Runs PAN's whole test suite from a clean clone.
#
# The end-to-end tests start real fabric-manager and panctl processes, so the
# workspace binaries are built first. cargo-nextest is used when present
# (it is on PAN's development machines); plain `cargo test` otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Redfish conformance test (tests/tests/redfish_conformance.rs) runs the
# manager's BMC client against OpenStack's sushy-tools emulator too; it lives
# in a virtualenv at .venv (git-ignored), installed once from PyPI, pinned so
# that the peer the suite checks against does not change under it.
SUSHY_TOOLS_VERSION=2.2.0
if [ ! -x .venv/bin/sushy-emulator ]; then
  echo "==> installing sushy-tools into .venv (Redfish emulator for the conformance test)"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "sushy-tools==${SUSHY_TOOLS_VERSION}"
fi

echo "==> building workspace binaries"
cargo build --workspace --bins

if cargo nextest --version >/dev/null 2>&1; then
  echo "==> cargo nextest run --workspace"
  cargo nextest run --workspace --no-fail-fast "$@"
else
  echo "==> cargo test --workspace (cargo-nextest not installed)"
  cargo test --workspace --no-fail-fast "$@"
fi

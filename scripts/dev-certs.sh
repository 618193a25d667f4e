#!/usr/bin/env bash
# A self-signed development CA and a server certificate for the fabric
# manager's optional TLS. Not for production.
#
#   scripts/dev-certs.sh DIR [SAN...]      (default SANs: localhost 127.0.0.1)
#
# Writes DIR/ca.pem, DIR/server.pem and DIR/server.key (mode 0600); then:
#   fabric-manager --tls-cert DIR/server.pem --tls-key DIR/server.key --tls-ca DIR/ca.pem ...
#   panctl --ca-cert DIR/ca.pem cluster status
set -euo pipefail
if [[ $# -lt 1 ]]; then
    echo "usage: $0 DIR [SAN...]" >&2
    exit 2
fi
out=$1
shift
sans=()
for san in "$@"; do
    sans+=(--san "$san")
done
cd "$(dirname "$0")/.."
exec cargo run --quiet -p pan-tests --bin pan-certs -- --out "$out" "${sans[@]}"

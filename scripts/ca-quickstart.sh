#!/usr/bin/env bash
# The consortium CA quick start: builds `medchain`, creates a consortium CA, issues a provider and
# an auditor, shows that OpenSSL agrees, and shows the three ways a certificate is refused
# (foreign CA, wrong role, revoked). Everything is written under testnet/run/ca-quickstart
# (git-ignored), which is replaced on each run.
#
# Usage: scripts/ca-quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."

dir=testnet/run/ca-quickstart
bin=target/release/medchain

step() { printf '\n=== %s ===\n' "$*"; }
expect_refusal() { # run a command that must fail, and show why
  if "$@"; then echo "UNEXPECTED: accepted"; exit 1; else echo "(refused, as it must be)"; fi
}

step "build"
cargo build --release --locked -q -p medchain-node
rm -rf "$dir" && mkdir -p "$dir"

step "consortium CA"
$bin ca init --name "Seoul Hospitals Consortium" --out "$dir/ca"

step "members: a provider hospital and an auditor"
$bin ca issue --ca "$dir/ca" --role provider --org "Hospital A" --out "$dir/hospital-a"
$bin ca issue --ca "$dir/ca" --role auditor --org "Health Auditors" --out "$dir/auditor"

step "medchain verifies the provider"
$bin ca verify --ca "$dir/ca" --cert "$dir/hospital-a/member.pem" --role provider

step "OpenSSL agrees"
openssl verify -CAfile "$dir/ca/ca.pem" "$dir/hospital-a/member.pem"
openssl x509 -in "$dir/hospital-a/member.pem" -noout -subject -ext extendedKeyUsage

step "an outsider with its own CA (Table 1, scenario 1): unknown issuer"
$bin ca init --name "Seoul Hospitals Consortium" --out "$dir/outsider-ca" >/dev/null
$bin ca issue --ca "$dir/outsider-ca" --role provider --org "Outsider" --out "$dir/outsider" >/dev/null
expect_refusal $bin ca verify --ca "$dir/ca" --cert "$dir/outsider/member.pem" --role provider

step "an auditor cannot act as a provider: wrong role"
expect_refusal $bin ca verify --ca "$dir/ca" --cert "$dir/auditor/member.pem" --role provider

step "revocation"
$bin ca revoke --ca "$dir/ca" --cert "$dir/hospital-a/member.pem"
expect_refusal $bin ca verify --ca "$dir/ca" --cert "$dir/hospital-a/member.pem" --role provider
openssl crl -in "$dir/ca/crl.pem" -CAfile "$dir/ca/ca.pem" -noout -text | grep -E "verify|Serial Number" || true

step "done: all checks behaved as expected (files in $dir)"

#!/usr/bin/env bash
# Installs the Debian packages maydo's engines and tests use, when they are missing and we may
# (root with apt-get); otherwise prints what to install. Idempotent and quiet when all are present.
#   flite               CMU voices: default engine of several English accents (else espeak-ng + warning)
#   postgresql-15       the job-store tests start a throwaway cluster (initdb + pg_ctl on loopback)
#   chromium(-driver)   the review-page browser test (headless, no browser download)
#   curl                the docs/api.md examples test runs every curl example
#   iproute2            `ip netns`: the multi-node test (tests/deploy) puts two Ray nodes in network namespaces
# Usage: scripts/system_deps.sh PACKAGE...
set -u
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: missing system packages: ${missing[*]} (install them with apt-get as root)" >&2
  exit 0
fi
echo "installing system packages (apt): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
  || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${missing[@]}" >/dev/null; } \
  || { echo "error: apt-get install ${missing[*]} failed" >&2; exit 1; }

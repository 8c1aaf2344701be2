#!/usr/bin/env bash
# Installs Azurite's blob service (npm package `azurite`) for the upload tests, unless azurite-blob is already
# on PATH. Needs Node.js 18+ and npm (Debian: apt-get install -y nodejs npm). Pin with AZURITE_VERSION.
set -euo pipefail
version="${AZURITE_VERSION:-3.35.0}"   # the version shared/docs/azure-offline-testing.md was checked with

if command -v azurite-blob >/dev/null 2>&1; then
  echo "azurite-blob $(azurite-blob --version) is installed"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "install-azurite: npm is missing (Debian: apt-get install -y nodejs npm); the Azurite tests will skip" >&2
  exit 0  # not fatal: the tests say why they skip
fi
echo "install-azurite: node $(node --version), installing azurite@${version}"
if ! npm install --global --no-audit --no-fund --loglevel=error "azurite@${version}"; then
  # Not allowed to write the global prefix (not root): install under ~/.local, whose bin the tests also look in.
  npm install --global --prefix "${HOME}/.local" --no-audit --no-fund --loglevel=error "azurite@${version}"
fi
bin="$(command -v azurite-blob || echo "${HOME}/.local/bin/azurite-blob")"
echo "azurite-blob $("$bin" --version) installed at $bin"

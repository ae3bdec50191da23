#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the pinned Azurite (the service, API and
# end-to-end tests start their own instances of it), restores, builds and tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

command -v dotnet >/dev/null || { echo "test: the .NET 10 SDK is required (dotnet not found)" >&2; exit 1; }
command -v npm >/dev/null || { echo "test: Node.js 20+ with npm is required for Azurite" >&2; exit 1; }
if [[ ! -x infra/azurite/node_modules/.bin/azurite ]]; then
  echo "test: installing Azurite (npm ci in infra/azurite)"
  (cd infra/azurite && npm ci --no-audit --no-fund --loglevel=error)
fi

dotnet test FedMM.sln "$@"

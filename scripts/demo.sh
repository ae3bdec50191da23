#!/usr/bin/env bash
# The README's one demo command: builds FedMM (Release), installs the pinned Azurite, and runs
# `fedmm demo` (Azurite + silo + API on loopback, 10 site agents, live progress, report).
# Arguments go to `fedmm demo`, e.g. scripts/demo.sh --rounds 5 --out /tmp/fedmm-demo
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

command -v dotnet >/dev/null || { echo "demo: the .NET 10 SDK is required (dotnet not found)" >&2; exit 1; }
command -v npm >/dev/null || { echo "demo: Node.js 20+ with npm is required for Azurite" >&2; exit 1; }

echo "demo: building (Release)"
dotnet build FedMM.sln -c Release --nologo -v quiet -clp:ErrorsOnly

if [[ ! -x infra/azurite/node_modules/.bin/azurite ]]; then
  echo "demo: installing Azurite (npm ci in infra/azurite)"
  (cd infra/azurite && npm ci --no-audit --no-fund --loglevel=error)
fi

exec dotnet src/Cli/bin/Release/net10.0/linux-x64/fedmm.dll demo "$@"

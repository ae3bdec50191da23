#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: restore, build, test.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet test FedMM.sln --logger "console;verbosity=normal" "$@"

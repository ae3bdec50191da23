#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the pinned Azurite (the service, API and
# end-to-end tests start their own instances of it), the pinned Redocly CLI (the API tests lint the
# served OpenAPI document with it), Debian's chromium (the console's browser tests) and Debian's
# podman, runc and debootstrap (the container test, tests/Container.Tests, which builds the images
# with scripts/images.sh), restores, builds and tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

command -v dotnet >/dev/null || { echo "test: the .NET 10 SDK is required (dotnet not found)" >&2; exit 1; }
command -v npm >/dev/null || { echo "test: Node.js 20.19+ with npm is required for Azurite and Redocly" >&2; exit 1; }
if [[ ! -x infra/azurite/node_modules/.bin/azurite ]]; then
  echo "test: installing Azurite (npm ci in infra/azurite)"
  (cd infra/azurite && npm ci --no-audit --no-fund --loglevel=error)
fi
if [[ ! -x tools/openapi/node_modules/.bin/redocly ]]; then
  echo "test: installing Redocly CLI (npm ci in tools/openapi)"
  (cd tools/openapi && npm ci --no-audit --no-fund --loglevel=error)
fi

# The console's browser tests (tests/Console.Tests) drive Debian's Chromium; Playwright never downloads one.
if [[ ! -x /usr/bin/chromium ]]; then
  echo "test: installing Debian's chromium for the console's browser tests"
  export DEBIAN_FRONTEND=noninteractive
  if [[ $(id -u) -eq 0 ]]; then apt-get update && apt-get install -y chromium
  else sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; fi
fi

# The container test (tests/Container.Tests) runs the images of scripts/images.sh with podman. A
# developer's `dotnet test` skips it, saying why, where podman is missing or cannot run containers;
# here podman is installed, so FEDMM_REQUIRE_CONTAINERS=1 makes any such reason a failure instead.
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
  echo "test: installing Debian's podman, runc and debootstrap for the container test"
  export DEBIAN_FRONTEND=noninteractive
  if [[ $(id -u) -eq 0 ]]; then apt-get update && apt-get install -y podman runc debootstrap
  else sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y podman runc debootstrap; fi
fi

export FEDMM_REQUIRE_CONTAINERS=1
dotnet test FedMM.sln "$@"

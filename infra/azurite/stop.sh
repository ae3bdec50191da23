#!/usr/bin/env bash
# Stops the Azurite that start.sh started for the same blob port / data folder (by its pid file).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
blob_port="${AZURITE_BLOB_PORT:-10000}"
location="${AZURITE_LOCATION:-$repo/.azurite/$blob_port}"
pid_file="$location/azurite.pid"

if [[ ! -f "$pid_file" ]]; then
  echo "azurite: no pid file at $pid_file; nothing to stop"
  exit 0
fi
pid="$(cat "$pid_file")"
if kill -0 "$pid" 2>/dev/null; then
  kill "$pid"
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
  echo "azurite: stopped pid $pid"
else
  echo "azurite: pid $pid was not running"
fi
rm -f "$pid_file"

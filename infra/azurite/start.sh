#!/usr/bin/env bash
# Starts the pinned Azurite on 127.0.0.1 in the background and waits until its ports listen.
# Installs it first (npm ci from package-lock.json) when missing. Nothing happens when Azurite
# already answers on the blob port.
#
# Environment (all optional):
#   AZURITE_BLOB_PORT   (10000)  AZURITE_QUEUE_PORT (10001)  AZURITE_TABLE_PORT (10002)
#   AZURITE_LOCATION    data folder (default: <repo>/.azurite/<blob port>)
#   AZURITE_WAIT_SECONDS how long to wait for the ports (60)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
blob_port="${AZURITE_BLOB_PORT:-10000}"
queue_port="${AZURITE_QUEUE_PORT:-10001}"
table_port="${AZURITE_TABLE_PORT:-10002}"
location="${AZURITE_LOCATION:-$repo/.azurite/$blob_port}"
wait_seconds="${AZURITE_WAIT_SECONDS:-60}"
pid_file="$location/azurite.pid"
log_file="$location/azurite.log"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if listening "$blob_port"; then
  echo "azurite: something already listens on 127.0.0.1:$blob_port; not starting another"
  exit 0
fi

if [[ ! -x "$here/node_modules/.bin/azurite" ]]; then
  command -v npm >/dev/null || { echo "azurite: npm is required (Node.js 20 or later)" >&2; exit 1; }
  # Test projects run in parallel and may both get here: one installs, the other waits.
  (
    flock 9
    if [[ ! -x "$here/node_modules/.bin/azurite" ]]; then
      echo "azurite: installing the pinned version (npm ci in $here)"
      cd "$here" && npm ci --no-audit --no-fund --loglevel=error
    fi
  ) 9>"$here/.install.lock"
fi

mkdir -p "$location"
# setsid: Azurite outlives this script and the test process that may have started it;
# stop.sh ends it by the pid recorded here.
setsid "$here/node_modules/.bin/azurite" \
  --blobHost 127.0.0.1 --blobPort "$blob_port" \
  --queueHost 127.0.0.1 --queuePort "$queue_port" \
  --tableHost 127.0.0.1 --tablePort "$table_port" \
  --skipApiVersionCheck --disableTelemetry --silent \
  --location "$location" >"$log_file" 2>&1 < /dev/null &
pid=$!
echo "$pid" > "$pid_file"

for ((i = 0; i < wait_seconds * 10; i++)); do
  if listening "$blob_port" && listening "$queue_port" && listening "$table_port"; then
    echo "azurite: listening on 127.0.0.1 (blob $blob_port, queue $queue_port, table $table_port), pid $pid, data $location"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "azurite: exited during start-up; log $log_file:" >&2
    cat "$log_file" >&2
    exit 1
  fi
  sleep 0.1
done
echo "azurite: ports not listening after ${wait_seconds}s; log $log_file" >&2
kill "$pid" 2>/dev/null || true
exit 1

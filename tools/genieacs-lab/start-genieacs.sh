#!/bin/sh
# Starts a GenieACS lab: the mongomock wire front end (mongowire.py) and GenieACS's
# cwmp, nbi and fs services, one worker each, with logs in $LAB_DIR.
#
# Usage: start-genieacs.sh GENIEACS_CHECKOUT
#   GENIEACS_CHECKOUT  a GenieACS source tree after `npm ci && npm run build` (dist/bin/).
# Environment (all optional):
#   LAB_DIR      logs, pid files (default /tmp/genieacs-lab)
#   BIND         address GenieACS listens on (default 127.0.0.1)
#   NETNS        run GenieACS and mongowire inside this network namespace (ip netns exec)
#   CWMP_PORT=57547 NBI_PORT=57557 FS_PORT=57567 MONGO_PORT=57017
#   Any GENIEACS_* variable (e.g. GENIEACS_XMPP_JID, GENIEACS_UDP_CONNECTION_REQUEST_PORT,
#   GENIEACS_DEBUG_FILE) is passed through to GenieACS unchanged.
# Stop with stop-genieacs.sh (same LAB_DIR): it kills the pids recorded in $LAB_DIR/*.pid.
set -eu

[ $# -eq 1 ] || { echo "usage: $0 GENIEACS_CHECKOUT" >&2; exit 2; }
GENIEACS=$(cd "$1" && pwd)
[ -x "$GENIEACS/dist/bin/genieacs-cwmp" ] || {
    echo "$GENIEACS/dist/bin/genieacs-cwmp missing: run npm ci && npm run build there" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
LAB_DIR=${LAB_DIR:-/tmp/genieacs-lab}
BIND=${BIND:-127.0.0.1}
CWMP_PORT=${CWMP_PORT:-57547}
NBI_PORT=${NBI_PORT:-57557}
FS_PORT=${FS_PORT:-57567}
MONGO_PORT=${MONGO_PORT:-57017}
mkdir -p "$LAB_DIR"

if [ -n "${NETNS:-}" ]; then IN="ip netns exec $NETNS"; else IN=""; fi

$IN python3 "$HERE/mongowire.py" --host 127.0.0.1 --port "$MONGO_PORT" \
    >"$LAB_DIR/mongowire.log" 2>&1 &
echo $! >"$LAB_DIR/mongowire.pid"
# Wait for the front end to listen (up to 10 s).
i=0
until $IN python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $MONGO_PORT), 1)" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 50 ] || { echo "mongowire did not start" >&2; cat "$LAB_DIR/mongowire.log" >&2; exit 1; }
    sleep 0.2
done

export GENIEACS_MONGODB_CONNECTION_URL="mongodb://127.0.0.1:$MONGO_PORT/genieacs"
export GENIEACS_EXT_DIR="$LAB_DIR/ext"
mkdir -p "$GENIEACS_EXT_DIR"
for svc in cwmp nbi fs; do
    SVC=$(echo $svc | tr a-z A-Z)
    eval port=\$${SVC}_PORT
    env "GENIEACS_${SVC}_PORT=$port" "GENIEACS_${SVC}_INTERFACE=$BIND" \
        "GENIEACS_${SVC}_WORKER_PROCESSES=1" \
        "GENIEACS_${SVC}_LOG_FILE=$LAB_DIR/$svc.log" \
        "GENIEACS_${SVC}_ACCESS_LOG_FILE=$LAB_DIR/$svc-access.log" \
        $IN node "$GENIEACS/dist/bin/genieacs-$svc" >"$LAB_DIR/$svc.out" 2>&1 &
    echo $! >"$LAB_DIR/$svc.pid"
done
echo "GenieACS: CWMP http://$BIND:$CWMP_PORT/  NBI http://$BIND:$NBI_PORT/  FS http://$BIND:$FS_PORT/"
echo "logs and pids in $LAB_DIR"

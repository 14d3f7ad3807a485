#!/bin/sh
# Stops what start-genieacs.sh started (the pids it recorded in $LAB_DIR).
LAB_DIR=${LAB_DIR:-/tmp/genieacs-lab}
for f in "$LAB_DIR"/cwmp.pid "$LAB_DIR"/nbi.pid "$LAB_DIR"/fs.pid "$LAB_DIR"/mongowire.pid; do
    [ -f "$f" ] || continue
    kill "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
done

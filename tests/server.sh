#!/bin/sh
# Process-level tests of `facerec serve` (the routes themselves are tested
# in-process by tests/test_server.c): it starts on a free loopback port and
# logs one JSON line per request; SIGTERM lets the requests in progress finish
# before it exits 0; and kill -9 during enrolments loses no acknowledged
# (200) enrolment and leaves a gallery that passes PRAGMA integrity_check.
# Usage: sh tests/server.sh BUILD/facerec. Prints "N passed, N failed".
# Needs curl and python3 (scripts/deps.sh).
set -u
BIN=${1:-build/facerec}
DATA=${FACEREC_DATA:-../shared/data}
EX=$DATA/bbt/examples/images
. "$(dirname "$0")/clilib.sh"

ADMIN=admin-key-server-sh
printf 'admin %s\n' "$(printf %s "$ADMIN" | sha256sum | cut -c1-64)" >"$T/keys"
chmod 600 "$T/keys"
H="X-API-Key: $ADMIN"
pid=""; port=""

# start DB LOG: starts the server, sets pid and port (empty on failure).
start() {
  "$BIN" serve --db "$1" --port 0 --threads 2 --api-key-file "$T/keys" --access-log "$T/access.log" 2>"$2" &
  pid=$!; port=""
  for _ in $(seq 1 600); do
    port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$2")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
}

# ---- access log and graceful SIGTERM ------------------------------------------------
start "$T/a.db" "$T/a.log"
if [ -n "$port" ]; then ok "serve starts on a free port ($port)"; else bad "serve did not start"; cat "$T/a.log"; fi
U=http://127.0.0.1:$port
code=$(curl -s -o "$T/out" -w '%{http_code}' "$U/api/v1/health")
[ "$code" = 200 ] && ok "health without a key" || bad "health: $code"
if python3 -c "
import json,sys
L=[json.loads(l) for l in open('$T/access.log')]
sys.exit(0 if L[-1]['path']=='/api/v1/health' and L[-1]['status']==200 and 'ms' in L[-1] else 1)"; then
  ok "the access log has a JSON line per request"; else bad "access log"; fi
# examples/client.py: a numpy frame sent as raw pixels (Debian's python3 with
# python3-numpy; a python3 elsewhere on PATH may lack numpy).
PY=python3; [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
if $PY -c "
import sys
sys.path.insert(0, 'examples')
import numpy as np, client
frame = np.full((48, 64, 3), 128, np.uint8)
a = client.recognize(frame[:, :, ::-1], '127.0.0.1', $port, '$ADMIN')  # a strided view: made contiguous
sys.exit(0 if a['width'] == 64 and a['height'] == 48 and a['faces'] == [] else 1)" 2>"$T/err"; then
  ok "examples/client.py sends a numpy frame as raw pixels"; else bad "examples/client.py"; fi
# Six recognitions on two workers: some run, some wait in the queue. SIGTERM
# once all six are in (seven requests in progress with the /metrics one that
# looks); every request must still be answered.
for i in 1 2 3 4 5 6; do
  curl -s -o "$T/r$i" -w '%{http_code}' -H "$H" -H 'Content-Type: image/png' \
    --data-binary @"$EX/sheldon/sheldon$((1 + i % 5)).png" "$U/api/v1/recognize" >"$T/code$i" &
done
seen=""
for _ in $(seq 1 200); do
  if curl -s -H "$H" "$U/metrics" | grep -qE '^facerec_http_requests_in_progress ([7-9]|[1-9][0-9])'; then seen=1; break; fi
  sleep 0.02
done
kill -TERM "$pid"
wait "$pid"; rc=$?
sleep 0.2
n200=0
for i in 1 2 3 4 5 6; do
  while [ ! -s "$T/code$i" ] && kill -0 %"$i" 2>/dev/null; do sleep 0.1; done
  [ "$(cat "$T/code$i")" = 200 ] && n200=$((n200 + 1))
done
wait
[ "$rc" = 0 ] && ok "SIGTERM: exit status 0" || bad "SIGTERM: exit status $rc"
[ -n "$seen" ] && ok "all six requests seen in progress before SIGTERM" || bad "the six requests were never seen in progress together"
if [ "$n200" = 6 ]; then ok "SIGTERM with requests in progress and queued: all 6 answered 200"
else bad "SIGTERM: only $n200 of 6 requests answered 200"; fi
grep -q "finishing the requests in progress" "$T/a.log" && ok "SIGTERM is logged" || bad "no SIGTERM log line"

# ---- kill -9 during enrolments ------------------------------------------------------
G=$T/k.db
start "$G" "$T/k.log"
U=http://127.0.0.1:$port
: >"$T/acked"
# Every crop is a distinct image enrolled under its own name; a name is
# written to acked only after its 200 arrived.
(
  for p in amy bernadette howard leonard penny raj sheldon stuart; do
    for k in 1 2 3 4 5; do
      code=$(curl -s -o /dev/null -w '%{http_code}' -H "$H" -H 'Content-Type: image/png' \
        --data-binary @"$EX/$p/$p$k.png" "$U/api/v1/subjects/$p$k/faces")
      [ "$code" = 200 ] && echo "$p$k" >>"$T/acked"
    done
  done
) &
loop=$!
for _ in $(seq 1 600); do
  [ "$(wc -l <"$T/acked")" -ge 4 ] && break
  sleep 0.05
done
kill -9 "$pid"
wait "$pid" 2>/dev/null
wait "$loop"
n=$(wc -l <"$T/acked")
[ "$n" -ge 4 ] && ok "killed with -9 after $n acknowledged enrolments" || bad "only $n enrolments before the kill"
start "$G" "$T/k2.log"
U=http://127.0.0.1:$port
curl -s -H "$H" "$U/api/v1/subjects" >"$T/subjects.json"
missing=""
while read -r name; do
  python3 -c "
import json,sys
s=json.load(open('$T/subjects.json'))['subjects']
sys.exit(0 if any(p['name']=='$name' and p['faces']==1 for p in s) else 1)" || missing="$missing $name"
done <"$T/acked"
[ -z "$missing" ] && ok "after a restart every acknowledged enrolment is there ($n)" || bad "lost:$missing"
kill -TERM "$pid"; wait "$pid"
if python3 -c "
import sqlite3,sys
c=sqlite3.connect('$G')
sys.exit(0 if c.execute('PRAGMA integrity_check').fetchone()[0]=='ok' else 1)"; then
  ok "PRAGMA integrity_check: ok"; else bad "integrity_check failed"; fi
summary

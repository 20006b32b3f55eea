#!/bin/sh
# Cross-origin and DNS-rebinding attacks on `facerec serve` from a web page in
# Debian's headless Chromium (tests/browser/cross_origin.test.js, driven by
# playwright-core pinned in tests/browser/package-lock.json and installed here
# with npm ci into BUILD/browser-cross-origin/). The server runs in open mode
# (--no-auth on loopback): no key stands between a page the user visits and
# the API, so only the server's Origin and Host checks can refuse the page's
# requests. The test starts the attacker's web server itself, on another
# loopback port, and checks from outside the browser that nothing changed;
# a same-origin control shows the same requests do work from the server's own
# page.
# Usage: sh tests/server_cross_origin.sh BUILD. Prints "N passed, N failed".
# FACEREC_OLD=1 runs BUILD/facerec without --no-auth (the old civetweb server
# has no such flag and is open when given no key file), to show that the test
# fails on it.
set -u
B=${1:-build}
DATA=${FACEREC_DATA:-../shared/data}
W=$B/browser-cross-origin
T=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL $1"; [ -f "$2" ] && tail -n 20 "$2" | sed 's/^/     /'; echo "0 passed, 1 failed"; exit 1; }

[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium is missing (scripts/deps.sh installs it)"
# A directory of its own (not BUILD/browser, which tests/server_browser.sh
# wipes with its own npm ci), so that the two tests may run side by side.
mkdir -p "$W"
cp tests/browser/package.json tests/browser/package-lock.json tests/browser/cross_origin.test.js "$W/"
(cd "$W" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) >"$T/npm.log" 2>&1 ||
  fail "npm ci in $W" "$T/npm.log"

AUTH=--no-auth
[ "${FACEREC_OLD:-}" = 1 ] && AUTH=""
# shellcheck disable=SC2086 # AUTH is one flag or nothing
"$B/facerec" serve --db "$T/g.db" --port 0 --threads 2 $AUTH --web web 2>"$T/server.log" &
pid=$!
port=""
for _ in $(seq 1 600); do
  port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$T/server.log")
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$port" ] || fail "the server did not start" "$T/server.log"
node "$W/cross_origin.test.js" "http://127.0.0.1:$port" "$DATA/bbt/examples/images/sheldon/sheldon1.png"
rc=$?
kill -0 "$pid" 2>/dev/null || { echo "FAIL the server died during the test"; rc=1; }
[ $rc -eq 0 ] || tail -n 5 "$T/server.log"
exit $rc

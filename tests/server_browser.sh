#!/bin/sh
# Browser test of the web page (web/) served by `facerec serve`: Debian's
# headless Chromium, driven by playwright-core (pinned in
# tests/browser/package-lock.json, installed here with npm ci into
# BUILD/browser/), with a fake camera playing a face photo made into a Y4M
# video by tests/browser/y4m.js. The page enrols the face and must then draw
# a box named after it (on the face also when the video is letterboxed), its
# header must count the person, the FPS readout must be a dash after one
# result and a positive rate after two, a removal by another client must show
# up, and a wrong key must be reported; the screenshot is left in
# BUILD/browser/page.png.
# Usage: sh tests/server_browser.sh BUILD. Prints "N passed, N failed".
# FACEREC_WEB=DIR serves another copy of the page (to check that the test
# fails on an old one).
set -u
B=${1:-build}
WEB=${FACEREC_WEB:-web}
DATA=${FACEREC_DATA:-../shared/data}
W=$B/browser
T=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL $1"; [ -f "$2" ] && tail -n 20 "$2" | sed 's/^/     /'; echo "0 passed, 1 failed"; exit 1; }

[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium is missing (scripts/deps.sh installs it)"
mkdir -p "$W"
cp tests/browser/package.json tests/browser/package-lock.json tests/browser/*.js "$W/"
(cd "$W" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) >"$T/npm.log" 2>&1 ||
  fail "npm ci in $W" "$T/npm.log"
node "$W/y4m.js" "$DATA/bbt/examples/images/sheldon/sheldon1.png" "$W/face.y4m" >"$T/y4m.log" 2>&1 ||
  fail "making the fake camera video" "$T/y4m.log"

KEY=admin-key-browser-test
printf 'admin %s\n' "$(printf %s "$KEY" | sha256sum | cut -c1-64)" >"$T/keys"
chmod 600 "$T/keys"
"$B/facerec" serve --db "$T/g.db" --port 0 --threads 2 --api-key-file "$T/keys" --web "$WEB" \
  --access-log "$T/access.log" 2>"$T/server.log" &
pid=$!
port=""
for _ in $(seq 1 600); do
  port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$T/server.log")
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$port" ] || fail "the server did not start" "$T/server.log"
node "$W/page.test.js" "http://127.0.0.1:$port" "$KEY" "$W/face.y4m" "$W/page.png"
rc=$?
[ $rc -eq 0 ] || tail -n 5 "$T/server.log"
exit $rc

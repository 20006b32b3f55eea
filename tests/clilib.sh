# clilib.sh - the harness the CLI test scripts share (sourced, not run).
# Sets T (a temporary folder removed on exit) and provides:
#   expect NAME WANT_RC CMD...   run CMD, check its exit status (nonzero: any
#                                non-zero status below 128, i.e. not a crash)
#   json_check NAME PY_EXPR      PY_EXPR over L, the JSON lines of the last output
#   has NAME TEXT                the last output contains TEXT
#   summary                      prints "N passed, N failed"; status 1 on failures
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0; failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; [ -f "$T/err" ] && sed 's/^/     /' "$T/err" | head -5; }
expect() {
  name=$1; want=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; rc=$?
  if [ "$want" = nonzero ]; then
    if [ $rc -ne 0 ] && [ $rc -lt 128 ]; then ok "$name (rc=$rc)"; else bad "$name: rc=$rc, wanted non-zero without a crash"; fi
  elif [ $rc -eq "$want" ]; then ok "$name"; else bad "$name: rc=$rc, wanted $want"; fi
}
json_check() {
  if python3 -c "
import json,sys
L=[json.loads(l) for l in open('$T/out') if l.strip()]
sys.exit(0 if ($2) else 1)" 2>>"$T/err"; then ok "$1"; else bad "$1"; fi
}
has() { if grep -q -- "$2" "$T/out"; then ok "$1"; else bad "$1: '$2' not in output"; sed 's/^/     /' "$T/out" | head -5; fi; }
summary() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

#!/bin/sh
# Attack tests of a real `facerec serve` over loopback (tests/attack.py):
# resource exhaustion, cross-site requests, smuggling, forgetting, names.
# Usage: sh tests/attack.sh BUILD/facerec [--old]
# Runs from the repository root and exits with the suite's status; prints
# "N passed, N failed".
set -u
BIN=${1:-build/facerec}
[ $# -gt 0 ] && shift
# A relative binary is taken from where the script was called.
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
cd "$(dirname "$0")/.." || exit 1
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
exec "$PY" tests/attack.py --bin "$BIN" "$@"

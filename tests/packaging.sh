#!/bin/sh
# Packaging tests, run by `make test` after the unit and CLI tests:
#   - libfacerec.so has its SONAME and exports exactly the FR_API functions of
#     facerec.h, nothing else;
#   - the three examples run and give the right answers; the threaded one is
#     also clean under ThreadSanitizer (after a deliberate race proves that
#     ThreadSanitizer works here);
#   - docs/cli.md and man/facerec.1 cover every command and option that
#     `facerec --help` prints, and mention no option it does not;
#   - `make install` into a DESTDIR stage and into a temporary prefix; a program
#     built against the prefix with pkg-config and with CMake's
#     find_package(facerec), each linked shared and static, runs on images from
#     ../shared/data with the models found in the installed share folder only;
#   - `make uninstall` leaves nothing behind.
# Usage: sh tests/packaging.sh (from the repository root; make test runs it).
# Prints "N passed, N failed" last and exits non-zero if anything failed.
set -u
MAKE=${MAKE:-make}
CC=${CC:-cc}
B=${BUILD:-build}
IB=build-install # the install tests' own build folder: PREFIX is compiled in
DATA=$(cd "${FACEREC_DATA:-../shared/data}" && pwd) || { echo "no data folder"; exit 1; }
ROOT=$(pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0; failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
# bad NAME: a failure; shows the log of the step (then empties it, so that the
# next failure does not show it again).
bad() {
  failed=$((failed + 1)); echo "FAIL $1"
  [ -s "$T/log" ] && tail -n 15 "$T/log" | sed 's/^/     /'
  : >"$T/log"
}
# check NAME CMD...: passes when CMD succeeds; its output goes to $T/log.
check() { name=$1; shift; if "$@" >"$T/log" 2>&1; then ok "$name"; else bad "$name"; fi; }
# expect_rc NAME WANT CMD...: runs CMD with output in $T/out, checks its status.
expect_rc() {
  name=$1; want=$2; shift 2
  "$@" >"$T/out" 2>&1; rc=$?
  cp "$T/out" "$T/log"
  if [ "$rc" -eq "$want" ]; then ok "$name"; else bad "$name: exit status $rc, wanted $want"; fi
}
# has NAME PATTERN: the last command's output ($T/out) matches the regex.
has() { if grep -Eq "$2" "$T/out"; then ok "$1"; else cp "$T/out" "$T/log"; bad "$1"; fi; }
# Dynamic symbols a shared object defines, one per line.
exports() { nm -D --defined-only "$1" | awk 'NF >= 3 { print $3 }' | sort -u; }
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }

ver_part() { sed -n "s/^#define FR_VERSION_$1  *\([0-9][0-9]*\).*/\1/p" include/facerec.h; }
MAJOR=$(ver_part MAJOR)
VERSION=$MAJOR.$(ver_part MINOR).$(ver_part PATCH)
SONAME=libfacerec.so.$MAJOR
SAME_A=$DATA/lfw/images/George_W_Bush/George_W_Bush_0001.jpg
SAME_B=$DATA/lfw/images/George_W_Bush/George_W_Bush_0002.jpg
OTHER=$DATA/lfw/images/Colin_Powell/Colin_Powell_0001.jpg
GROUP=$DATA/bbt/test/images/faces.jpg

# ---- the shared library ------------------------------------------------------
echo "== shared library ($B)"
check "make shared examples" $MAKE --no-print-directory BUILD="$B" shared examples
LIB=$B/libfacerec.so.$VERSION
if readelf -d "$LIB" 2>/dev/null | grep -q "(SONAME).*\[$SONAME\]"; then ok "SONAME is $SONAME"
else bad "SONAME of $LIB is not $SONAME"; fi
if [ "$(readlink "$B/libfacerec.so")" = "$SONAME" ] && [ "$(readlink "$B/$SONAME")" = "libfacerec.so.$VERSION" ]
then ok "libfacerec.so -> $SONAME -> libfacerec.so.$VERSION"; else bad "library symlinks"; fi

# Every function facerec.h declares with FR_API, one per line.
sed -n 's/^FR_API[^(]*[ *]\(fr_[a-z0-9_]*\)(.*/\1/p' include/facerec.h | sort -u >"$T/declared"
exports "$LIB" >"$T/exported"
grep -v '^fr_[a-z0-9]' "$T/exported" >"$T/foreign"
grep '^fr__' "$T/exported" >>"$T/foreign"
if [ -s "$T/exported" ] && [ ! -s "$T/foreign" ]; then ok "nm -D: only fr_ symbols ($(wc -l <"$T/exported") of them)"
else cp "$T/foreign" "$T/log"; bad "nm -D: symbols other than fr_ exported"; fi
if [ "$(wc -l <"$T/declared")" -gt 20 ] && cmp -s "$T/declared" "$T/exported"; then
  ok "exports are exactly the FR_API functions of facerec.h"
else
  { echo "declared, not exported:"; comm -23 "$T/declared" "$T/exported"
    echo "exported, not declared:"; comm -13 "$T/declared" "$T/exported"; } >"$T/log"
  bad "exports differ from the FR_API functions of facerec.h"
fi
# The CLI and the unit tests link the internals from the static library.
if nm "$B/libfacerec.a" 2>/dev/null | grep -q ' T fr__'; then ok "libfacerec.a keeps the fr__ internals"
else bad "libfacerec.a has no fr__ symbols"; fi

# ---- the examples ------------------------------------------------------------
echo "== examples"
E=$B/examples
expect_rc "verify: two photos of one person" 0 "$E/verify" "$SAME_A" "$SAME_B"
has "verify says same person" "same person"
expect_rc "verify: two people" 1 "$E/verify" "$SAME_A" "$OTHER"
has "verify says different people" "different people"
expect_rc "verify: a missing photo is an error" 2 "$E/verify" "$T/missing.jpg" "$SAME_B"
expect_rc "identify: enrol bbt people, identify bbt1.jpg" 0 \
  "$E/identify" "$DATA/bbt/examples/images" "$DATA/bbt/examples/images/bbt1.jpg"
has "identify enrolled the 8 people's 40 photos" "enrolled 40 new photos; the gallery knows 8 people \(40 descriptors\)"
# bbt1.jpg shows, left to right, Raj, Leonard, Howard and Sheldon.
if [ "$(sed -n 's/^  \[.*\] \([a-z]*\) (distance.*/\1/p' "$T/out" | tr '\n' ' ')" = "raj leonard howard sheldon " ]
then ok "identify names bbt1.jpg left to right: raj leonard howard sheldon"
else cp "$T/out" "$T/log"; bad "identify names in bbt1.jpg"; fi
expect_rc "frames: two threads, one pipeline, raw RGB buffers" 0 "$E/frames" "$GROUP" 3
has "frames: 6 faces in the first frame, threads agree" "^frame 0: 6 faces, threads agree"

# ---- ThreadSanitizer -----------------------------------------------------------
echo "== ThreadSanitizer"
cat >"$T/race.c" <<'EOF'
#include <pthread.h>
static int shared;
static void *bump(void *arg) { (void)arg; shared++; return 0; }
int main(void) {
  pthread_t a, b;
  pthread_create(&a, 0, bump, 0);
  pthread_create(&b, 0, bump, 0);
  pthread_join(a, 0);
  pthread_join(b, 0);
  return shared == 12345;
}
EOF
# A deliberate race first: a sanitizer that cannot run here must not pass as clean.
if $CC -fsanitize=thread -g -O1 -pthread "$T/race.c" -o "$T/race" >"$T/log" 2>&1; then
  TSAN_OPTIONS=exitcode=66 "$T/race" >"$T/out" 2>&1
  has "ThreadSanitizer reports a deliberate data race" "WARNING: ThreadSanitizer: data race"
else
  bad "cannot build with -fsanitize=thread"
fi
check "make examples-tsan (library and frames under -fsanitize=thread)" $MAKE --no-print-directory examples-tsan
TSAN_OPTIONS="halt_on_error=1 exitcode=66" build-tsan/examples/frames "$GROUP" 2 >"$T/out" 2>&1
rc=$?
if [ $rc -eq 0 ] && ! grep -q ThreadSanitizer "$T/out"; then ok "frames under ThreadSanitizer: clean"
else cp "$T/out" "$T/log"; bad "frames under ThreadSanitizer (exit status $rc)"; fi

# ---- documentation against the tool ------------------------------------------
echo "== docs"
"$B/facerec" --help >"$T/help" 2>&1
# Options: every --word in the help text. Commands: the lines under
# "commands:" indented by exactly two spaces, with their lower-case
# sub-commands (eval lfw).
grep -oE -- '--[a-z][a-z0-9-]*' "$T/help" | sort -u >"$T/help.opts"
sed -n '/^commands:/,/^$/p' "$T/help" | grep -E '^  [a-z]' |
  awk '{ c = $1; for (i = 2; i <= NF && $i ~ /^[a-z]+$/; i++) c = c " " $i; print c }' | sort -u >"$T/help.cmds"
# The man page as plain words: roff escapes for '-' and fonts removed.
sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(em/-/g' man/facerec.1 >"$T/man.txt" 2>/dev/null
for doc in docs/cli.md man/facerec.1; do
  txt=$doc; [ "$doc" = man/facerec.1 ] && txt=$T/man.txt
  missing=""
  # Whole options only: --top must not be found inside --top-k.
  while read -r o; do grep -qE -- "$o([^a-z0-9-]|\$)" "$txt" || missing="$missing $o"; done <"$T/help.opts"
  if [ -s "$T/help.opts" ] && [ -z "$missing" ]; then ok "$doc: every option of facerec --help ($(wc -l <"$T/help.opts"))"
  else echo "missing:$missing" >"$T/log"; bad "$doc lacks options of facerec --help"; fi
  missing=""
  while read -r c; do grep -qF -- "facerec $c" "$txt" || missing="$missing '$c'"; done <"$T/help.cmds"
  if [ -s "$T/help.cmds" ] && [ -z "$missing" ]; then ok "$doc: every command of facerec --help ($(wc -l <"$T/help.cmds"))"
  else echo "missing:$missing" >"$T/log"; bad "$doc lacks commands of facerec --help"; fi
  # The other way round: nothing documented that the tool does not have.
  extra=""
  for o in $(grep -oE -- '--[a-z][a-z0-9-]*' "$txt" | sort -u); do
    [ "$o" = --help ] && continue
    grep -qxF -- "$o" "$T/help.opts" || extra="$extra $o"
  done
  if [ -z "$extra" ]; then ok "$doc: documents no option facerec --help lacks"
  else echo "unknown:$extra" >"$T/log"; bad "$doc documents options facerec does not have"; fi
done
groff -man -ww -z man/facerec.1 >"$T/log" 2>&1
if [ $? -eq 0 ] && [ ! -s "$T/log" ]; then ok "man page formats without groff warnings"; else bad "groff warnings in man/facerec.1"; fi
tool_version=$("$B/facerec" --version | awk '{ print $2 }')
if [ "$tool_version" = "$VERSION" ]; then ok "facerec --version says $VERSION"; else bad "facerec --version says $tool_version, facerec.h $VERSION"; fi
if grep -q "^\.TH FACEREC 1 .*\"facerec $VERSION\"" man/facerec.1; then ok "man page is for version $VERSION"
else bad "man/facerec.1 .TH does not name facerec $VERSION"; fi
if grep -q "^## \[$VERSION\]" CHANGELOG.md; then ok "CHANGELOG.md has an entry for $VERSION"; else bad "CHANGELOG.md has no ## [$VERSION]"; fi
missing=""
for m in models/*-weights_manifest.json; do
  grep -qF "$(basename "$m")" docs/api.md || missing="$missing $(basename "$m")"
done
if [ -z "$missing" ]; then ok "docs/api.md names every model file"; else echo "missing:$missing" >"$T/log"; bad "docs/api.md lacks models"; fi

# ---- make install with DESTDIR, then uninstall -----------------------------------
echo "== install (DESTDIR)"
STAGE=$T/stage; P0=/opt/facerec-test
check "make install DESTDIR=... PREFIX=$P0" $MAKE --no-print-directory BUILD=$IB PREFIX=$P0 DESTDIR="$STAGE" install
missing=""
for f in bin/facerec lib/libfacerec.so lib/$SONAME lib/libfacerec.so.$VERSION lib/libfacerec.a \
         include/facerec.h lib/pkgconfig/facerec.pc lib/cmake/facerec/facerec-config.cmake \
         lib/cmake/facerec/facerec-config-version.cmake share/man/man1/facerec.1 \
         share/facerec/models/LICENSE.face-api; do
  [ -e "$STAGE$P0/$f" ] || missing="$missing $f"
done
for m in models/*-weights_manifest.json models/*.bin; do
  cmp -s "$m" "$STAGE$P0/share/facerec/models/$(basename "$m")" || missing="$missing share/facerec/$m"
done
if [ -z "$missing" ]; then ok "every file staged under DESTDIR$P0"; else echo "missing:$missing" >"$T/log"; bad "staged files"; fi
if grep -qx "prefix=$P0" "$STAGE$P0/lib/pkgconfig/facerec.pc" 2>/dev/null; then ok "facerec.pc names PREFIX, not DESTDIR"
else bad "facerec.pc prefix"; fi
if grep -qaF "$P0/share/facerec/models" "$STAGE$P0/lib/libfacerec.so.$VERSION" 2>/dev/null; then
  ok "the library looks for models in $P0/share/facerec/models"
else bad "FR_SHARE_DIR is not compiled in from PREFIX"; fi
check "make uninstall DESTDIR=..." $MAKE --no-print-directory BUILD=$IB PREFIX=$P0 DESTDIR="$STAGE" uninstall
left=$(find "$STAGE" ! -type d 2>/dev/null)
if [ -z "$left" ]; then ok "uninstall leaves no file behind"; else echo "$left" >"$T/log"; bad "uninstall left files"; fi

# ---- make install into a prefix, and programs built against it -----------------------
echo "== install (PREFIX)"
P=$T/prefix
mkdir -p "$T/run" # a working folder without ./models
check "make install PREFIX=$P" $MAKE --no-print-directory BUILD=$IB PREFIX="$P" install
if [ "$(exports "$P/lib/$SONAME" | grep -cv '^fr_[a-z0-9]')" = 0 ] && exports "$P/lib/$SONAME" | grep -q fr_version
then ok "installed library exports only fr_ symbols"; else bad "installed library exports"; fi
if [ -f "$P/lib/$SONAME" ] && ! readelf -d "$P/lib/$SONAME" | grep -Eq 'R(UN)?PATH'; then
  ok "installed library carries no run path"
else bad "installed library missing or carrying a run path"; fi
export PKG_CONFIG_PATH="$P/lib/pkgconfig"
v=$(pkg-config --modversion facerec 2>&1)
if [ "$v" = "$VERSION" ]; then ok "pkg-config --modversion facerec = $VERSION"; else echo "$v" >"$T/log"; bad "pkg-config --modversion"; fi
if pkg-config --static --libs facerec | grep -q -- '-ljpeg'; then ok "pkg-config --static adds the private libraries"
else bad "pkg-config --static lacks Libs.private"; fi
# The models must come from the installed share folder: no --models, no
# $FACEREC_MODELS, no ./models in the working folder.
run() { (cd "$T/run" && unset FACEREC_MODELS && "$@"); }

# pkg-config, shared: the consumer is compiled outside the tree, from the
# installed header and library only.
cp examples/verify.c "$T/"
check "cc verify.c \$(pkg-config --cflags --libs facerec)" \
  sh -c "cd '$T' && $CC -std=c11 -Wall -Wextra -Werror verify.c \$(pkg-config --cflags --libs facerec) -o pc-verify"
if needed "$T/pc-verify" | grep -qx "$SONAME"; then ok "pkg-config build links $SONAME"; else bad "pkg-config build is not linked to $SONAME"; fi
expect_rc "pkg-config build runs (LD_LIBRARY_PATH=prefix/lib), models from the share folder" 0 \
  run env LD_LIBRARY_PATH="$P/lib" "$T/pc-verify" "$SAME_A" "$SAME_B"
has "pkg-config build: same person" "same person"

# pkg-config, static: libfacerec.a and Libs.private.
check "cc verify.c \$(pkg-config --static --libs facerec) with libfacerec.a" \
  sh -c "cd '$T' && $CC -std=c11 -Wall -Wextra -Werror verify.c \$(pkg-config --cflags facerec) \
         \$(pkg-config --static --libs facerec | sed 's/-lfacerec/-l:libfacerec.a/') -o pc-verify-static"
if [ -x "$T/pc-verify-static" ] && ! needed "$T/pc-verify-static" | grep -q libfacerec; then ok "static build does not need libfacerec.so"
else bad "static build still needs libfacerec.so"; fi
expect_rc "static pkg-config build runs" 1 run "$T/pc-verify-static" "$SAME_A" "$OTHER"
has "static pkg-config build: different people" "different people"

# CMake, shared and static, the examples' own CMakeLists.txt.
for kind in shared static; do
  st=OFF; [ $kind = static ] && st=ON
  check "cmake find_package(facerec), $kind" sh -c \
    "cmake -S examples -B '$T/cmake-$kind' -DCMAKE_PREFIX_PATH='$P' -DFACEREC_STATIC=$st &&
     cmake --build '$T/cmake-$kind'"
done
if needed "$T/cmake-shared/verify" 2>/dev/null | grep -qx "$SONAME"; then ok "facerec::facerec links $SONAME"; else bad "facerec::facerec is not the shared library"; fi
if [ -x "$T/cmake-static/verify" ] && ! needed "$T/cmake-static/verify" | grep -q libfacerec; then ok "facerec::facerec_static links libfacerec.a"
else bad "facerec::facerec_static"; fi
# No LD_LIBRARY_PATH: the imported target's location gives CMake the run path.
expect_rc "CMake shared build runs" 0 run "$T/cmake-shared/verify" "$SAME_A" "$SAME_B"
has "CMake shared build: same person" "same person"
expect_rc "CMake static build runs (frames)" 0 run "$T/cmake-static/frames" "$GROUP" 2
has "CMake static build: threads agree" "^ok: both threads"

# find_package's version rules.
mkdir -p "$T/fp"
printf 'cmake_minimum_required(VERSION 3.13)\nproject(fp C)\nfind_package(facerec ${REQ} REQUIRED)\nmessage(STATUS "facerec ${facerec_VERSION} models ${FACEREC_MODELS_DIR}")\n' >"$T/fp/CMakeLists.txt"
fp() { rm -rf "$T/fp/b"; cmake -S "$T/fp" -B "$T/fp/b" -DCMAKE_PREFIX_PATH="$P" -DREQ="$1" >"$T/out" 2>&1; }
# fp_refused REQ: the configure failed because of the version, not otherwise.
fp_refused() { ! fp "$1" && grep -q "compatible with requested version" "$T/out"; }
MINOR=$(ver_part MINOR)
if fp "" && grep -q "facerec $VERSION models $P/share/facerec/models" "$T/out"; then ok "find_package(facerec) sets facerec_VERSION and FACEREC_MODELS_DIR"
else cp "$T/out" "$T/log"; bad "find_package(facerec) without a version"; fi
if fp "$MAJOR.$MINOR"; then ok "find_package(facerec $MAJOR.$MINOR) succeeds"; else cp "$T/out" "$T/log"; bad "find_package with the current version"; fi
if fp_refused "$((MAJOR + 1)).0"; then ok "find_package(facerec $((MAJOR + 1)).0) is refused"
else cp "$T/out" "$T/log"; bad "find_package and the next major version"; fi
if [ "$MAJOR" = 0 ]; then
  # While the major version is 0, a minor release may break the API.
  if fp_refused "0.$((MINOR + 1))"; then ok "find_package(facerec 0.$((MINOR + 1))) is refused"
  else cp "$T/out" "$T/log"; bad "find_package and the next minor version of 0.x"; fi
fi

# The installed tool, models from the share folder.
expect_rc "installed facerec detect, models from the share folder" 0 \
  run "$P/bin/facerec" detect --json "$GROUP"
if [ "$(grep -o '"box"' "$T/out" | wc -l)" -eq 6 ]; then ok "installed facerec finds the 6 faces of faces.jpg"
else bad "installed facerec detect output"; fi
if groff -man -Tutf8 "$P/share/man/man1/facerec.1" 2>/dev/null | grep -q 'facerec'; then ok "installed man page renders"
else bad "installed man page"; fi

check "make uninstall PREFIX=$P" $MAKE --no-print-directory BUILD=$IB PREFIX="$P" uninstall
left=$(find "$P" ! -type d 2>/dev/null)
if [ -z "$left" ]; then ok "uninstall removes every installed file"; else echo "$left" >"$T/log"; bad "uninstall left files"; fi
cd "$ROOT"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

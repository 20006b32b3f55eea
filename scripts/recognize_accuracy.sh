#!/bin/sh
# recognize_accuracy.sh FACEREC [EXTRA OPTIONS...] - accuracy of `facerec recognize`
# (face_recognition's command line) on the Big Bang Theory crops of
# ../shared/data/bbt/examples/images: 8 people x 5 crops (150x150 gray PNG).
#
# Protocol: five rounds; in round k each person's k-th crop is the one known
# image (known/NAME.png) and their other four crops are the unknown images, so
# every crop is recognised four times against every other single reference.
# A crop counts as right when recognize prints exactly its person's name for it;
# "unknown_person", "no_persons_found", another name or several names count as
# wrong. Extra options go to recognize (e.g. --metric cosine, --tolerance 0.5).
# Prints one line per round and a total; exit status 0 unless recognize fails.
set -u
BIN=${1:?usage: recognize_accuracy.sh FACEREC [options]}
shift
EX=${FACEREC_DATA:-../shared/data}/bbt/examples/images
PEOPLE="amy bernadette howard leonard penny raj sheldon stuart"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
total=0; right=0; unknown=0
for k in 1 2 3 4 5; do
  rm -rf "$T/known" "$T/unknown"
  mkdir -p "$T/known" "$T/unknown"
  for p in $PEOPLE; do
    cp "$EX/$p/$p$k.png" "$T/known/$p.png"
    for j in 1 2 3 4 5; do
      [ "$j" = "$k" ] || cp "$EX/$p/$p$j.png" "$T/unknown/"
    done
  done
  if ! "$BIN" recognize "$@" "$T/known" "$T/unknown" >"$T/out" 2>"$T/err"; then
    echo "recognize failed in round $k:" >&2
    cat "$T/err" >&2
    exit 1
  fi
  # One verdict per image: the names printed for it, joined by '+'.
  counts=$(awk -F, '
    { f = $1; sub(/.*\//, "", f); if (f in n) n[f] = n[f] "+" $2; else n[f] = $2 }
    END {
      t = 0; r = 0; u = 0
      for (f in n) {
        who = f; sub(/[0-9]+\.png$/, "", who)
        t++
        if (n[f] == who) r++
        else if (n[f] == "unknown_person" || n[f] == "no_persons_found") u++
      }
      print t, r, u
    }' "$T/out")
  t=$(echo "$counts" | cut -d' ' -f1); r=$(echo "$counts" | cut -d' ' -f2); u=$(echo "$counts" | cut -d' ' -f3)
  echo "round $k (known: crop $k of each person): $r of $t right, $u unknown"
  total=$((total + t)); right=$((right + r)); unknown=$((unknown + u))
done
awk -v r=$right -v t=$total -v u=$unknown 'BEGIN {
  printf "recognize on bbt/examples: %d of %d crops right (%.1f%%), %d unknown, %d wrong name\n",
         r, t, t ? 100 * r / t : 0, u, t - r - u }'

#!/bin/sh
# A/B of the engine's speed between an earlier commit and the working tree,
# on this machine, interleaved so that drift of a shared host hits both:
# builds bench/bench for REV (in a temporary git worktree) and for the tree,
# runs them alternately ROUNDS times (bench --runs 20 --warmup 3, one and two
# threads), and prints a markdown table of the median one-thread times of a
# few rows, with the CPU and the kernel set in use. A move of code that must
# not change speed (the floor plan of issue 14) is judged with it.
# Usage: sh bench/ab.sh REV [ROUNDS]    (default 2 rounds)
set -eu
REV=${1:?usage: sh bench/ab.sh REV [ROUNDS]}
ROUNDS=${2:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
WT=$(mktemp -d)
trap 'git worktree remove --force "$WT" >/dev/null 2>&1 || true; rm -rf "$WT"' EXIT
git worktree add -q --detach "$WT" "$REV"
ln -s "$ROOT/models" "$WT/models"
make -s -C "$WT" build/bench/bench >/dev/null
make -s build/bench/bench >/dev/null
ROWS='^(SSD-MobileNetV1 detect|FaceRecognitionNet, 150x150 chip, batch 1|pipeline fast: Tiny@416|pipeline accurate)'
OUT=$(mktemp)
for r in $(seq 1 "$ROUNDS"); do
  for side in a b; do
    if [ $side = a ]; then B="$WT/build/bench/bench"; else B="$ROOT/build/bench/bench"; fi
    "$B" --runs 20 --warmup 3 --images "$ROOT/../shared/data/bbt/test/images" 2>/dev/null |
      grep -E "$ROWS" | sed 's/  */ /g' | awk -F'|' -v s=$side '{split($1, a, " [0-9]+ *$"); n=$1; sub(/ +[0-9]+ *$/, "", n); split($2, t, " "); print s "\t" n "\t" t[1]}' >>"$OUT"
  done
done
CPU=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)
echo "A/B on $CPU, $(nproc) CPUs, kernels $("$ROOT/build/facerec" --version | sed -n 's/.*kernels[: ]*\([a-z0-9]*\).*/\1/p'), $(date -u '+%Y-%m-%d %H:%M UTC'); ms median, 1 thread, one value per round"
echo
echo "| figure | $REV | working tree |"
echo "| --- | --- | --- |"
cut -f2 "$OUT" | awk '!seen[$0]++' | while IFS= read -r row; do
  a=$(awk -F'\t' -v r="$row" '$1=="a" && $2==r {printf "%s%s", sep, $3; sep=", "}' "$OUT")
  b=$(awk -F'\t' -v r="$row" '$1=="b" && $2==r {printf "%s%s", sep, $3; sep=", "}' "$OUT")
  echo "| $row | $a | $b |"
done
rm -f "$OUT"

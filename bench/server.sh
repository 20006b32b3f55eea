#!/bin/sh
# bench/server.sh BUILD_DIR - load test of `facerec serve` on loopback; prints a markdown
# section (bench/run.sh calls it after its own report).
#
#  1. In-process reference: the worker's own work (fr_describe_photo + gallery identify) on
#     the decoded test photo, timed in a loop by a small C helper compiled here against
#     BUILD_DIR/libfacerec.a.
#  2. Added latency: the helper as a keep-alive HTTP client sends N sequential
#     /api/v1/recognize requests (raw pixels, then JPEG) and subtracts from each request's
#     round trip the time the server spent on it in the worker (queue_ms + pipeline_ms of the
#     answer): what HTTP, parsing, the hand-off to the pool and the JSON answer add.
#  3. Throughput: wrk (Debian's) against /api/v1/recognize with the JPEG and with raw pixels,
#     each bounded by -d (default 10 s) and a request cap (default 10,000): requests/s,
#     p50/p99.
#  4. Memory: the server's RSS after a warm-up and after all the load; then 10,000 cheap
#     requests through the parsing paths (health, a listing, refused raw bodies), RSS again.
#
# Environment: SERVER_BENCH_SECONDS=10, SERVER_BENCH_REQUESTS=10000, SERVER_BENCH_THREADS=2
# (workers), SERVER_BENCH_SEQ=100 (sequential requests of step 2).
set -u
if [ $# -ne 1 ] || [ ! -x "$1/facerec" ]; then
  echo "usage: sh bench/server.sh BUILD_DIR (with BUILD_DIR/facerec built)" >&2
  exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$1" && pwd)
SECS=${SERVER_BENCH_SECONDS:-10}
CAP=${SERVER_BENCH_REQUESTS:-10000}
WORKERS=${SERVER_BENCH_THREADS:-2}
SEQ=${SERVER_BENCH_SEQ:-100}
DATA=$(cd "$ROOT/../shared/data" 2>/dev/null && pwd) || DATA=""
PHOTO=$DATA/bbt/test/images/angry.jpg
ENROL=$DATA/bbt/test/images/angry_cropped.jpg
OUT=$BUILD/bench/server
mkdir -p "$OUT"
command -v wrk >/dev/null 2>&1 || { echo "bench/server.sh: wrk is missing (scripts/deps.sh)" >&2; exit 2; }
[ -f "$PHOTO" ] || { echo "bench/server.sh: $PHOTO not found" >&2; exit 2; }

# ---- the helper ------------------------------------------------------------------------
cat >"$OUT/helper.c" <<'EOF'
/* bench/server.sh's helper: decode, in-process timing, sequential HTTP client. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "facerec.h"

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}
static int cmpd(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static double pct(double *v, int n, double p) {
  qsort(v, (size_t)n, sizeof *v, cmpd);
  int k = (int)(p * (n - 1) + 0.5);
  return v[k];
}
static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)len);
  *n = fread(b, 1, (size_t)len, f);
  fclose(f);
  return b;
}

int main(int argc, char **argv) {
  fr_error err = {0};
  if (argc == 4 && strcmp(argv[1], "decode") == 0) {
    fr_image img, rgb;
    if (fr_image_load(argv[2], NULL, &img, &err) || fr_image_convert(&img, FR_PIXEL_RGB, &rgb, &err)) {
      fprintf(stderr, "%s\n", err.message);
      return 1;
    }
    FILE *f = fopen(argv[3], "wb");
    fwrite(rgb.data, 1, (size_t)rgb.stride * rgb.height, f);
    fclose(f);
    printf("%d %d\n", rgb.width, rgb.height);
    return 0;
  }
  if (argc == 5 && strcmp(argv[1], "inproc") == 0) {
    int n = atoi(argv[3]);
    fr_pipeline_options po;
    fr_pipeline_options_default(&po);
    fr_pipeline *pipe;
    fr_context *ctx;
    fr_gallery *g;
    char model[256];
    fr_image img;
    if (fr_pipeline_create(&po, NULL, &pipe, &err) || fr_context_create(NULL, &ctx, &err) ||
        fr_gallery_model_id(&po, model, sizeof model, &err) ||
        fr_gallery_open(argv[4], model, fr_pipeline_dim(pipe), 0.6f, &g, &err) ||
        fr_image_load(argv[2], NULL, &img, &err)) {
      fprintf(stderr, "%s\n", err.message);
      return 1;
    }
    fr_face faces[32];
    float desc[32 * 128];
    double *t = malloc(sizeof(double) * (size_t)n);
    fr_identify_options io;
    fr_identify_options_default(&io);
    for (int i = -3; i < n; i++) {
      double t0 = now_ms();
      int nf = 0, known, nt;
      fr_match m;
      fr_describe_photo(ctx, pipe, &img, 0, faces, desc, 32, &nf, NULL, &err);
      for (int k = 0; k < nf; k++) fr_gallery_identify(g, desc + k * 128, &io, &m, 1, &nt, &known, &err);
      if (i >= 0) t[i] = now_ms() - t0;
    }
    printf("%.2f %.2f\n", pct(t, n, 0.5), pct(t, n, 0.99));
    return 0;
  }
  if (argc == 7 && strcmp(argv[1], "client") == 0) {
    /* client PORT PATH CONTENT_TYPE FILE N: sequential keep-alive requests. */
    int port = atoi(argv[2]), n = atoi(argv[6]);
    size_t size;
    unsigned char *body = slurp(argv[5], &size);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!body || connect(fd, (struct sockaddr *)&a, sizeof a)) return 1;
    char head[512];
    int hl = snprintf(head, sizeof head, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: %s\r\nContent-Type: %s\r\n"
                      "Content-Length: %zu\r\n\r\n", argv[3], getenv("KEY"), argv[4], size);
    double *rt = malloc(sizeof(double) * (size_t)n), *add = malloc(sizeof(double) * (size_t)n);
    char *buf = malloc(1 << 20);
    for (int i = -3; i < n; i++) {
      double t0 = now_ms();
      if (send(fd, head, (size_t)hl, MSG_MORE) != hl || send(fd, body, size, 0) != (ssize_t)size) return 1;
      size_t got = 0;
      long clen = -1;
      char *hend = NULL;
      for (;;) {
        ssize_t k = recv(fd, buf + got, (1 << 20) - 1 - got, 0);
        if (k <= 0) return 1;
        got += (size_t)k;
        buf[got] = 0;
        if (!hend && (hend = strstr(buf, "\r\n\r\n"))) {
          char *cl = strcasestr(buf, "Content-Length:");
          clen = cl ? atol(cl + 15) : 0;
        }
        if (hend && got >= (size_t)(hend + 4 - buf) + (size_t)clen) break;
      }
      double t = now_ms() - t0;
      if (strncmp(buf, "HTTP/1.1 200", 12) != 0) { fprintf(stderr, "%.200s\n", buf); return 1; }
      char *q = strstr(hend, "\"queue_ms\":"), *p = strstr(hend, "\"pipeline_ms\":");
      double server = (q ? atof(q + 11) : 0) + (p ? atof(p + 14) : 0);
      if (i >= 0) rt[i] = t, add[i] = t - server;
    }
    printf("%.2f %.2f %.3f %.3f\n", pct(rt, n, 0.5), pct(rt, n, 0.99), pct(add, n, 0.5), pct(add, n, 0.99));
    return 0;
  }
  fprintf(stderr, "usage: helper decode IN OUT | inproc IMG N DB | client PORT PATH TYPE FILE N\n");
  return 2;
}
EOF
cc -std=c11 -O2 -I"$ROOT/include" -o "$OUT/helper" "$OUT/helper.c" "$BUILD/libfacerec.a" \
  -lspng -lpng -ljpeg -lcjson -lsqlite3 -lsvm -lm -pthread || { echo "bench/server.sh: helper build failed" >&2; exit 1; }

size=$("$OUT/helper" decode "$PHOTO" "$OUT/photo.rgb") || exit 1
W=${size% *}; H=${size#* }

# ---- the server -------------------------------------------------------------------------
KEY=bench-key
export KEY
printf 'admin %s\n' "$(printf %s "$KEY" | sha256sum | cut -c1-64)" >"$OUT/keys"
chmod 600 "$OUT/keys"
# (The old log goes first: the loop below must not read the port of a previous run.)
rm -f "$OUT/g.db" "$OUT/g.db-wal" "$OUT/g.db-shm" "$OUT/server.log"
cd "$ROOT" || exit 1
"$BUILD/facerec" serve --db "$OUT/g.db" --port 0 --threads "$WORKERS" --queue 64 --api-key-file "$OUT/keys" \
  --access-log /dev/null 2>"$OUT/server.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null' EXIT
port=""
for _ in $(seq 1 600); do
  port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$OUT/server.log")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { cat "$OUT/server.log" >&2; exit 1; }
U=http://127.0.0.1:$port
# One known person, so that recognize includes a real gallery search.
curl -s -o /dev/null -H "X-API-Key: $KEY" -H 'Content-Type: image/jpeg' --data-binary @"$ENROL" \
  "$U/api/v1/subjects/angry/faces"
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"; }

inproc=$("$OUT/helper" inproc "$PHOTO" "$SEQ" "$OUT/g.db") || inproc="- -"
raw_c=$("$OUT/helper" client "$port" "/api/v1/recognize?width=$W&height=$H&format=rgb" \
  application/octet-stream "$OUT/photo.rgb" "$SEQ") || raw_c="- - - -"
jpg_c=$("$OUT/helper" client "$port" /api/v1/recognize image/jpeg "$PHOTO" "$SEQ") || jpg_c="- - - -"
rss0=$(rss)

cat >"$OUT/post.lua" <<EOF
-- wrk: POST one file, stop after $CAP responses over all threads (each counts its share).
local f = io.open(os.getenv("BODY"), "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("CTYPE")
wrk.headers["X-API-Key"] = os.getenv("KEY")
local n, limit, bad = 0, math.ceil($CAP / 2), 0
response = function(status)
  n = n + 1
  if status ~= 200 then bad = bad + 1 end
  if n >= limit then wrk.thread:stop() end
end
done = function(summary) end
EOF
# wrk -t2 -c4: two threads keep four connections busy, twice the workers: the queue stays
# non-empty, so the figure is the workers' throughput, not the client's.
load() { # NAME PATH CTYPE BODY
  BODY=$4 CTYPE=$3 wrk -t2 -c4 -d"${SECS}s" --latency -s "$OUT/post.lua" "$U$2" >"$OUT/wrk-$1.txt" 2>&1
}
load jpeg /api/v1/recognize image/jpeg "$PHOTO"
load raw "/api/v1/recognize?width=$W&height=$H&format=rgb" application/octet-stream "$OUT/photo.rgb"
rss1=$(rss)
# 10,000 cheap requests through the request parsers and the error paths.
cat >"$OUT/cheap.lua" <<EOF
local paths = { "/api/v1/health", "/api/v1/subjects", "/api/v1/recognize?width=9&height=9", "/api/v1/nothing" }
local i, n = 0, 0
request = function()
  i = i % #paths + 1
  local body = nil
  if i == 3 then body = "short" end
  return wrk.format(i == 3 and "POST" or "GET", paths[i],
    { ["X-API-Key"] = os.getenv("KEY"), ["Content-Type"] = "application/octet-stream" }, body)
end
response = function() n = n + 1; if n >= $CAP / 2 then wrk.thread:stop() end end
EOF
wrk -t2 -c4 -d30s -s "$OUT/cheap.lua" "$U/" >"$OUT/wrk-cheap.txt" 2>&1
rss2=$(rss)
curl -s -H "X-API-Key: $KEY" "$U/metrics" >"$OUT/metrics.txt"
kill -TERM "$pid"; wait "$pid"; trap - EXIT

# ---- the report -------------------------------------------------------------------------
field() { awk -v k="$2" '$1 == k { print $2 }' "$OUT/wrk-$1.txt"; }
reqs() { awk '/requests in/ { print $1 }' "$OUT/wrk-$1.txt"; }
rps() { awk '/^Requests\/sec/ { print $2 }' "$OUT/wrk-$1.txt"; }
non2xx() { awk '/Non-2xx/ { print $NF }' "$OUT/wrk-$1.txt"; }
growth() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f%%", 100 * (b - a) / a }'; }
echo "### Server (facerec serve, $(date -u +%Y-%m-%d), $(nproc) CPUs, $WORKERS workers)"
echo
echo "Photo: \`$(basename "$PHOTO")\` (${W}x${H}, one face), one person enrolled; loopback; wrk -t2 -c4, each run"
echo "bounded by ${SECS} s and $CAP requests. Raw = the decoded RGB pixels as application/octet-stream."
echo
echo "| /api/v1/recognize | requests | req/s | p50 | p99 | non-200 |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for k in jpeg raw; do
  bad=$(non2xx $k)
  echo "| $k (wrk) | $(reqs $k) | $(rps $k) | $(field $k 50%) | $(field $k 99%) | ${bad:-0} |"
done
echo
set -- $inproc; ip50=$1; ip99=$2
set -- $raw_c; r50=$1; r99=$2; ra50=$3; ra99=$4
set -- $jpg_c; j50=$1; j99=$2; ja50=$3; ja99=$4
echo "Sequential, one keep-alive connection, $SEQ requests (ms):"
echo
echo "| | round trip p50 | p99 | added by the server p50 | p99 |"
echo "| --- | ---: | ---: | ---: | ---: |"
echo "| in-process describe + identify (no server) | $ip50 | $ip99 | - | - |"
echo "| raw pixels over HTTP | $r50 | $r99 | $ra50 | $ra99 |"
echo "| JPEG over HTTP (decode counted as added) | $j50 | $j99 | $ja50 | $ja99 |"
echo
echo "\"Added\" = round trip minus the worker's own queue + pipeline time reported in each answer."
echo
echo "Server RSS: ${rss0} KiB after warm-up, ${rss1} KiB after the recognize runs ($(growth "$rss0" "$rss1")),"
echo "${rss2} KiB after $(reqs cheap) further requests through the parsers and error paths ($(growth "$rss0" "$rss2") overall)."

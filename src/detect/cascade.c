/*
 * cascade.c - OpenCV's Haar and LBP face cascades as detectors.
 *
 * The scan follows CascadeClassifier::detectMultiScale of OpenCV 4:
 *  - the image is turned to gray (BGR2GRAY weights 0.299, 0.587, 0.114);
 *  - scale factors 1, f, f^2, ... are kept while the image shrunk by the
 *    factor (each side rounded) is larger than the training window and the
 *    window grown by the factor is within [min_size, max_size];
 *  - at each scale the gray image is resized bilinearly (as OpenCV does: the
 *    features keep their integer training rectangles, the image changes) and
 *    its integral images are built: the sum, for Haar the sum of squares
 *    (every window's Haar features are divided by its standard deviation
 *    times its area, measured over the window less a 1-pixel border) and the
 *    45-degree tilted sum when the cascade has tilted features;
 *  - windows step by 2 pixels below factor 2 and by 1 pixel from there (about
 *    2 original pixels either way), and a window rejected by the first stage
 *    skips the next position too; a window is a hit when every stage's sum
 *    of tree leaves reaches the stage threshold;
 *  - hits become boxes in the original image (position times the factor,
 *    window side times the factor, rounded) and are grouped as
 *    groupRectangles does: boxes whose corners are all within eps times
 *    their mean side of each other join one class (transitively); a class
 *    needs more than min_neighbors boxes; its box is the rounded mean; a
 *    class inside a bigger one with more boxes is dropped.
 * The pool splits each scale's rows; hits go to a byte mask per window
 * position so that the order in which boxes are grouped is the sequential
 * one, whatever the thread count.
 *
 * After the faces, OpenCV's eye cascade (haarcascade_eye.xml) runs inside the
 * top of each face box, as OpenCV's face-and-eyes sample does, and a face
 * whose two eyes form a plausible pair gets their centres as 2 landmarks,
 * which the ARCFACE and SIMILARITY alignments can use instead of the 68-point
 * net (src/align). Small faces are enlarged for it, because their eyes are
 * below the eye cascade's 20x20 window.
 */
#include "detect/cascade.h"
#include "detect/detect_internal.h"
#include "image/image_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the per-call compiled trees ------------------------------------------ */

/* A Haar node with its rectangles as offsets from a window's top-left entry
 * of the integral image in use (sum, or tilted when the feature is). */
typedef struct hnode {
  int32_t ofs[3][4];
  float w[3];
  float thr;
  int left, right; /* as fr__cascade_node */
  float lv, rv;    /* the leaf values when left/right are leaves */
  int nr, tilted;
} hnode;

/* An LBP node: the 16 corners of its 3x3 grid of blocks, row-major. */
typedef struct lnode {
  int32_t ofs[16];
  uint32_t subset[8];
  int left, right;
  float lv, rv;
} lnode;

static void compile_haar(const fr__cascade *c, int S, hnode *out) {
  for (int w = 0; w < c->n_weak; w++) {
    const fr__cascade_weak *wk = &c->weak[w];
    for (int k = 0; k < wk->n_nodes; k++) {
      const fr__cascade_node *n = &c->nodes[wk->first_node + k];
      const fr__cascade_feature *f = &c->features[n->feature];
      hnode *h = &out[wk->first_node + k];
      memset(h, 0, sizeof *h);
      h->thr = n->threshold;
      h->left = n->left;
      h->right = n->right;
      h->lv = n->left <= 0 ? c->leaves[wk->first_leaf - n->left] : 0.f;
      h->rv = n->right <= 0 ? c->leaves[wk->first_leaf - n->right] : 0.f;
      h->nr = f->n_rects;
      h->tilted = f->tilted;
      for (int r = 0; r < f->n_rects; r++) {
        const fr__haar_rect *q = &f->rect[r];
        int32_t *o = h->ofs[r];
        if (f->tilted) {
          o[0] = q->y * S + q->x;
          o[1] = (q->y + q->h) * S + (q->x - q->h);
          o[2] = (q->y + q->w) * S + (q->x + q->w);
          o[3] = (q->y + q->w + q->h) * S + (q->x + q->w - q->h);
        } else {
          o[0] = q->y * S + q->x;
          o[1] = q->y * S + q->x + q->w;
          o[2] = (q->y + q->h) * S + q->x;
          o[3] = (q->y + q->h) * S + q->x + q->w;
        }
        h->w[r] = q->weight;
      }
    }
  }
}

static void compile_lbp(const fr__cascade *c, int S, lnode *out) {
  for (int w = 0; w < c->n_weak; w++) {
    const fr__cascade_weak *wk = &c->weak[w];
    for (int k = 0; k < wk->n_nodes; k++) {
      const fr__cascade_node *n = &c->nodes[wk->first_node + k];
      const fr__cascade_feature *f = &c->features[n->feature];
      lnode *l = &out[wk->first_node + k];
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) l->ofs[i * 4 + j] = (f->y + i * f->h) * S + f->x + j * f->w;
      memcpy(l->subset, n->subset, sizeof l->subset);
      l->left = n->left;
      l->right = n->right;
      l->lv = n->left <= 0 ? c->leaves[wk->first_leaf - n->left] : 0.f;
      l->rv = n->right <= 0 ? c->leaves[wk->first_leaf - n->right] : 0.f;
    }
  }
}

/* ---- one window ------------------------------------------------------------ */

typedef struct scan {
  const fr__cascade *c;
  const hnode *hn;
  const lnode *ln;
  const uint32_t *sum, *sq, *tilted;
  int S;           /* integral row stride in entries */
  int ww, wh;      /* window positions at this scale */
  int ystep, rows_per_task;
  int32_t norm[4]; /* Haar's variance rectangle */
  double norm_area;
  uint8_t *mask; /* ww x wh: 1 where a window passed */
} scan;

#define RECT_SUM(p, o) ((int32_t)((p)[(o)[0]] - (p)[(o)[1]] - (p)[(o)[2]] + (p)[(o)[3]]))

static inline __attribute__((always_inline)) float haar_value(const hnode *n, const uint32_t *p, const uint32_t *pt) {
  const uint32_t *b = n->tilted ? pt : p;
  float v = n->w[0] * (float)RECT_SUM(b, n->ofs[0]) + n->w[1] * (float)RECT_SUM(b, n->ofs[1]);
  if (n->nr > 2) v += n->w[2] * (float)RECT_SUM(b, n->ofs[2]);
  return v;
}

/* The LBP code of a 3x3 grid: bit 7 for the top-left block, clockwise to bit
 * 0 for the middle-left one, each set when the block's sum is at least the
 * centre block's (OpenCV's LBPEvaluator order). */
static inline __attribute__((always_inline)) int lbp_code(const lnode *n, const uint32_t *p) {
  const int32_t *o = n->ofs;
  uint32_t v[16];
  for (int i = 0; i < 16; i++) v[i] = p[o[i]];
#define BLK(a, b, c, d) ((int32_t)(v[a] - v[b] - v[c] + v[d]))
  int32_t cv = BLK(5, 6, 9, 10);
  return (BLK(0, 1, 4, 5) >= cv ? 128 : 0) | (BLK(1, 2, 5, 6) >= cv ? 64 : 0) |
         (BLK(2, 3, 6, 7) >= cv ? 32 : 0) | (BLK(6, 7, 10, 11) >= cv ? 16 : 0) |
         (BLK(10, 11, 14, 15) >= cv ? 8 : 0) | (BLK(9, 10, 13, 14) >= cv ? 4 : 0) |
         (BLK(8, 9, 12, 13) >= cv ? 2 : 0) | (BLK(4, 5, 8, 9) >= cv ? 1 : 0);
#undef BLK
}

/* Adds a node's leaf without a branch: the comparisons are close to coin
 * flips, and a mispredicted branch costs more than both leaves. */
static inline float pick(int go_left, float lv, float rv) {
  const float leaf[2] = {rv, lv};
  return leaf[go_left];
}

/* Haar's per-window normaliser: the standard deviation of the window less
 * its border, times that area (1 for a flat window). */
static inline float haar_norm(const scan *j, const uint32_t *p, const uint32_t *q) {
  const int32_t *no = j->norm;
  uint32_t s = p[no[0]] - p[no[1]] - p[no[2]] + p[no[3]];
  uint32_t s2 = q[no[0]] - q[no[1]] - q[no[2]] + q[no[3]];
  double var = j->norm_area * (double)s2 - (double)s * (double)s;
  return var > 0 ? (float)sqrt(var) : 1.f;
}

/* Runs the cascade on the window at integral offset base: 1 when it passes,
 * otherwise minus the rejecting stage's index (0 for the first stage).
 * Stumps (every tree one node, as in OpenCV's face cascades) take a loop
 * over consecutive nodes; deeper trees walk from each tree's root. */
static int run_haar(const scan *j, size_t base) {
  const fr__cascade *c = j->c;
  const uint32_t *p = j->sum + base, *pt = j->tilted ? j->tilted + base : NULL;
  const float nf = haar_norm(j, p, j->sq + base);
  const hnode *nodes = j->hn;
  for (int si = 0; si < c->n_stages; si++) {
    const fr__cascade_stage *st = &c->stages[si];
    float acc = 0.f;
    if (c->stumps) {
      const hnode *n = nodes + st->first_weak, *e = n + st->n_weak;
      for (; n < e; n++) acc += pick(haar_value(n, p, pt) < n->thr * nf, n->lv, n->rv);
    } else {
      for (int w = 0; w < st->n_weak; w++) {
        const hnode *t = nodes + c->weak[st->first_weak + w].first_node;
        int i = 0;
        for (;;) {
          const hnode *n = t + i;
          int go_left = haar_value(n, p, pt) < n->thr * nf;
          int nx = go_left ? n->left : n->right;
          if (nx <= 0) {
            acc += pick(go_left, n->lv, n->rv);
            break;
          }
          i = nx;
        }
      }
    }
    if (acc < st->threshold) return -si;
  }
  return 1;
}

/* The same for upright Haar stumps only, the case of the frontal face
 * cascades, with nothing left to decide per node but the third rectangle. */
static int run_haar_stumps(const scan *j, size_t base) {
  const fr__cascade *c = j->c;
  const uint32_t *p = j->sum + base;
  const float nf = haar_norm(j, p, j->sq + base);
  const hnode *n = j->hn;
  const fr__cascade_stage *st = c->stages, *se = st + c->n_stages;
  for (; st < se; st++) {
    float acc = 0.f;
    for (const hnode *e = n + st->n_weak; n < e; n++) {
      float v = n->w[0] * (float)RECT_SUM(p, n->ofs[0]) + n->w[1] * (float)RECT_SUM(p, n->ofs[1]);
      if (n->nr > 2) v += n->w[2] * (float)RECT_SUM(p, n->ofs[2]);
      acc += pick(v < n->thr * nf, n->lv, n->rv);
    }
    if (acc < st->threshold) return -(int)(st - c->stages);
  }
  return 1;
}

static inline __attribute__((always_inline)) int run_lbp_from(const scan *j, size_t base, int first) {
  const fr__cascade *c = j->c;
  const uint32_t *p = j->sum + base;
  const lnode *nodes = j->ln;
  for (int si = first; si < c->n_stages; si++) {
    const fr__cascade_stage *st = &c->stages[si];
    float acc = 0.f;
    if (c->stumps) {
      const lnode *n = nodes + st->first_weak, *e = n + st->n_weak;
      for (; n < e; n++) {
        int code = lbp_code(n, p);
        acc += pick((n->subset[code >> 5] >> (code & 31)) & 1, n->lv, n->rv);
      }
    } else {
      for (int w = 0; w < st->n_weak; w++) {
        const lnode *t = nodes + c->weak[st->first_weak + w].first_node;
        int i = 0;
        for (;;) {
          const lnode *n = t + i;
          int code = lbp_code(n, p);
          int go_left = (n->subset[code >> 5] >> (code & 31)) & 1;
          int nx = go_left ? n->left : n->right;
          if (nx <= 0) {
            acc += pick(go_left, n->lv, n->rv);
            break;
          }
          i = nx;
        }
      }
    }
    if (acc < st->threshold) return -si;
  }
  return 1;
}

/* One task's rows with the window function inlined (a call per window
 * would cost as much as a first-stage rejection). */
#define SCAN_ROWS(NAME, RUN)                                                   \
  static void NAME(void *arg, int task, int thread) {                          \
    (void)thread;                                                              \
    const scan *j = arg;                                                       \
    int y0 = task * j->rows_per_task, y1 = y0 + j->rows_per_task;              \
    if (y1 > j->wh) y1 = j->wh;                                                \
    const int step = j->ystep;                                                 \
    for (int y = y0; y < y1; y += step) {                                      \
      uint8_t *m = j->mask + (size_t)y * j->ww;                                \
      size_t row = (size_t)y * j->S;                                           \
      for (int x = 0; x < j->ww; x += step) {                                  \
        int r = RUN(j, row + x);                                               \
        if (r > 0) m[x] = 1;                                                   \
        else if (r == 0) x += step; /* rejected at once: skip, as OpenCV does */ \
      }                                                                        \
    }                                                                          \
  }
static int run_lbp(const scan *j, size_t base) { return run_lbp_from(j, base, 0); }

SCAN_ROWS(scan_lbp, run_lbp)

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define HAVE_LBP_AVX2 1

/* Eight consecutive window positions' integral entries at offset o from p,
 * positions step (1 or 2) apart. */
__attribute__((target("avx2"))) static inline __m256i load8(const uint32_t *p, int32_t o, int step) {
  if (step == 1) return _mm256_loadu_si256((const __m256i *)(const void *)(p + o));
  const __m256i evens = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  __m256i lo = _mm256_permutevar8x32_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(p + o)), evens);
  __m256i hi = _mm256_permutevar8x32_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(p + o + 8)), evens);
  return _mm256_permute2x128_si256(lo, hi, 0x20);
}

/*
 * Stage si of a stump LBP cascade for the eight windows at p, p + step, ...,
 * p + 7 step at once: bit k of the result is set when window k passes it.
 * Every lane does the scalar code's arithmetic in its order (block sums
 * modulo 2^32, the same leaf additions from 0), so the answer is the scalar
 * one's.
 */
__attribute__((target("avx2"))) static int lbp_stage_x8(const scan *j, const uint32_t *p, int step,
                                                        int si) {
  const fr__cascade_stage *st = &j->c->stages[si];
  const lnode *n = j->ln + st->first_weak, *e = n + st->n_weak;
  __m256 acc = _mm256_setzero_ps();
  for (; n < e; n++) {
    __m256i v[16];
    for (int i = 0; i < 16; i++) v[i] = load8(p, n->ofs[i], step);
#define BLK8(a, b, c, d) _mm256_add_epi32(_mm256_sub_epi32(_mm256_sub_epi32(v[a], v[b]), v[c]), v[d])
    const __m256i cv = BLK8(5, 6, 9, 10);
    /* Bit set when the block's sum >= the centre's: not (centre > block). */
#define BIT8(a, b, c, d, bit) _mm256_andnot_si256(_mm256_cmpgt_epi32(cv, BLK8(a, b, c, d)), _mm256_set1_epi32(bit))
    __m256i code = _mm256_or_si256(
        _mm256_or_si256(_mm256_or_si256(BIT8(0, 1, 4, 5, 128), BIT8(1, 2, 5, 6, 64)),
                        _mm256_or_si256(BIT8(2, 3, 6, 7, 32), BIT8(6, 7, 10, 11, 16))),
        _mm256_or_si256(_mm256_or_si256(BIT8(10, 11, 14, 15, 8), BIT8(9, 10, 13, 14, 4)),
                        _mm256_or_si256(BIT8(8, 9, 12, 13, 2), BIT8(4, 5, 8, 9, 1))));
#undef BIT8
#undef BLK8
    /* The 256-bit subset is eight words: one in-register lookup. */
    __m256i words = _mm256_permutevar8x32_epi32(
        _mm256_loadu_si256((const __m256i *)(const void *)n->subset), _mm256_srli_epi32(code, 5));
    __m256i bit = _mm256_and_si256(_mm256_srlv_epi32(words, _mm256_and_si256(code, _mm256_set1_epi32(31))),
                                   _mm256_set1_epi32(1));
    __m256 left = _mm256_castsi256_ps(_mm256_cmpeq_epi32(bit, _mm256_set1_epi32(1)));
    acc = _mm256_add_ps(acc, _mm256_blendv_ps(_mm256_set1_ps(n->rv), _mm256_set1_ps(n->lv), left));
  }
  return _mm256_movemask_ps(_mm256_cmp_ps(acc, _mm256_set1_ps(st->threshold), _CMP_NLT_UQ));
}

/*
 * scan_lbp for stump cascades with the first two stages eight windows at a
 * time (most windows end there), the rest one window at a time. The windows
 * visited are exactly the scalar scan's: a window rejected by the first
 * stage still skips the next position, walked lane by lane.
 */
__attribute__((target("avx2"))) static void scan_lbp_avx2(void *arg, int task, int thread) {
  (void)thread;
  const scan *j = arg;
  int y0 = task * j->rows_per_task, y1 = y0 + j->rows_per_task;
  if (y1 > j->wh) y1 = j->wh;
  const int step = j->ystep;
  for (int y = y0; y < y1; y += step) {
    uint8_t *m = j->mask + (size_t)y * j->ww;
    size_t row = (size_t)y * j->S;
    int x = 0;
    /* Eight lanes reach x + 7 step; with step 2 the loads read one entry
     * beyond, x + 15, which is still a window position of the row. */
    while (x + 8 * step <= j->ww) {
      const uint32_t *p = j->sum + row + x;
      int pass0 = lbp_stage_x8(j, p, step, 0), k = 0;
      /* pass1: the windows through the second stage too (a one-stage
       * cascade has none, so passing the first is passing them all). */
      int pass1 = pass0 && j->c->n_stages > 1 ? pass0 & lbp_stage_x8(j, p, step, 1) : pass0;
      int from = j->c->n_stages > 1 ? 2 : 1;
      while (k < 8) {
        if (!((pass0 >> k) & 1)) {
          k += 2; /* rejected at once: skip, as OpenCV does */
          continue;
        }
        if (((pass1 >> k) & 1) && run_lbp_from(j, row + x + (size_t)k * step, from) > 0)
          m[x + k * step] = 1;
        k++;
      }
      x += k * step;
    }
    for (; x < j->ww; x += step) {
      int r = run_lbp(j, row + x);
      if (r > 0) m[x] = 1;
      else if (r == 0) x += step;
    }
  }
}
#else
#define scan_lbp_avx2 scan_lbp
#endif
SCAN_ROWS(scan_haar_stumps, run_haar_stumps)
SCAN_ROWS(scan_haar, run_haar)

/* ---- images ------------------------------------------------------------------- */

/* OpenCV's fixed-point BGR2GRAY: (R*4899 + G*9617 + B*1868 + 8192) >> 14. */
static void to_gray(const fr_image *img, uint8_t *out) {
  const int w = img->width, h = img->height;
  for (int y = 0; y < h; y++) {
    const uint8_t *s = img->data + (size_t)y * img->stride;
    uint8_t *d = out + (size_t)y * w;
    switch (img->format) {
    case FR_PIXEL_GRAY: memcpy(d, s, (size_t)w); break;
    case FR_PIXEL_RGB:
      for (int x = 0; x < w; x++, s += 3) d[x] = (uint8_t)((s[0] * 4899 + s[1] * 9617 + s[2] * 1868 + 8192) >> 14);
      break;
    case FR_PIXEL_BGR:
      for (int x = 0; x < w; x++, s += 3) d[x] = (uint8_t)((s[2] * 4899 + s[1] * 9617 + s[0] * 1868 + 8192) >> 14);
      break;
    default:
      for (int x = 0; x < w; x++) {
        uint8_t rgb[3];
        fr__pixel_rgb(img, x, y, rgb);
        d[x] = (uint8_t)((rgb[0] * 4899 + rgb[1] * 9617 + rgb[2] * 1868 + 8192) >> 14);
      }
      break;
    }
  }
}

/* The source position and 11-bit weight of each destination coordinate for
 * a bilinear resize with pixel centres aligned (OpenCV's INTER_LINEAR). */
static void resize_table(int src, int dst, int32_t *pos, int32_t *wt) {
  double scale = (double)src / dst;
  for (int i = 0; i < dst; i++) {
    double f = (i + 0.5) * scale - 0.5;
    int s = (int)floor(f);
    double a = f - s;
    if (s < 0) s = 0, a = 0;
    if (s >= src - 1) s = src - 1, a = 0;
    pos[i] = s;
    wt[i] = (int32_t)lrint(a * 2048);
  }
}

static void resize_gray(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh,
                        int32_t *xpos, int32_t *xwt, int32_t *row0, int32_t *row1) {
  resize_table(sw, dw, xpos, xwt);
  double scale = (double)sh / dh;
  int have0 = -1, have1 = -1;
  for (int y = 0; y < dh; y++) {
    double f = (y + 0.5) * scale - 0.5;
    int sy = (int)floor(f);
    double a = f - sy;
    if (sy < 0) sy = 0, a = 0;
    if (sy >= sh - 1) sy = sh - 1, a = 0;
    int sy1 = sy + 1 < sh ? sy + 1 : sy;
    int32_t b = (int32_t)lrint(a * 2048);
    /* Horizontal passes, reusing rows from the line before. */
    if (have0 != sy) {
      if (have1 == sy) {
        int32_t *t = row0;
        row0 = row1;
        row1 = t;
        have0 = sy;
        have1 = -1;
      } else {
        const uint8_t *s = src + (size_t)sy * sw;
        for (int x = 0; x < dw; x++) {
          int p = xpos[x], wx = xwt[x], p1 = p + 1 < sw ? p + 1 : p;
          row0[x] = s[p] * (2048 - wx) + s[p1] * wx;
        }
        have0 = sy;
      }
    }
    if (have1 != sy1) {
      const uint8_t *s = src + (size_t)sy1 * sw;
      for (int x = 0; x < dw; x++) {
        int p = xpos[x], wx = xwt[x], p1 = p + 1 < sw ? p + 1 : p;
        row1[x] = s[p] * (2048 - wx) + s[p1] * wx;
      }
      have1 = sy1;
    }
    uint8_t *d = dst + (size_t)y * dw;
    for (int x = 0; x < dw; x++)
      /* At most 255 * 2048 * 2048 + 2^21 < 2^32: 32 bits suffice, and let
       * the compiler vectorise the blend. */
      d[x] = (uint8_t)(((uint32_t)row0[x] * (uint32_t)(2048 - b) + (uint32_t)row1[x] * (uint32_t)b +
                        (1u << 21)) >> 22);
  }
}

void fr__cascade_integrals(const uint8_t *gray, int w, int h, int gstride, int stride,
                           uint32_t *sum, uint32_t *sqsum, uint32_t *tilted, uint32_t *tmp) {
  memset(sum, 0, (size_t)(w + 1) * sizeof *sum);
  if (sqsum) memset(sqsum, 0, (size_t)(w + 1) * sizeof *sqsum);
  for (int y = 0; y < h; y++) {
    const uint8_t *g = gray + (size_t)y * gstride;
    const uint32_t *up = sum + (size_t)y * stride;
    uint32_t *cur = sum + (size_t)(y + 1) * stride;
    uint32_t rs = 0;
    cur[0] = 0;
    for (int x = 0; x < w; x++) {
      rs += g[x];
      cur[x + 1] = up[x + 1] + rs;
    }
    if (sqsum) {
      const uint32_t *qu = sqsum + (size_t)y * stride;
      uint32_t *qc = sqsum + (size_t)(y + 1) * stride;
      uint32_t rq = 0;
      qc[0] = 0;
      for (int x = 0; x < w; x++) {
        rq += (uint32_t)g[x] * g[x];
        qc[x + 1] = qu[x + 1] + rq;
      }
    }
  }
  if (!tilted) return;
  /*
   * tilted(X, Y) is the sum over the triangle with its apex at pixel
   * (c, r) = (X - 1, Y - 1) that widens upwards: rows y <= r, columns
   * |x - c| <= r - y. With P_y(k) the sum of row y through column k (0 for
   * k < 0, the whole row for k >= w - 1) it is A(c, r) - B(c, r), where
   * A(c, r) = sum over y <= r of P_y(c + r - y) and B(c, r) = sum of
   * P_y(c - r - 1 + y); both follow a diagonal from the row above:
   * A(c, r) = A(c + 1, r - 1) + P_r(c) and B(c, r) = B(c - 1, r - 1) +
   * P_r(c - 1). A is kept for c in [-1, w] (beyond w - 1 it only adds whole
   * rows) and B for c in [-1, w - 1] (B is 0 left of the image).
   */
  uint32_t *a0 = tmp, *a1 = tmp + (w + 2), *b0 = tmp + 2 * (w + 2), *b1 = tmp + 3 * (w + 2);
  memset(tmp, 0, (size_t)4 * (w + 2) * sizeof *tmp);
  memset(tilted, 0, (size_t)(w + 1) * sizeof *tilted);
  for (int r = 0; r < h; r++) {
    const uint32_t *iu = sum + (size_t)r * stride, *id = sum + (size_t)(r + 1) * stride;
    /* P_r(k) = id[k + 1] - iu[k + 1]; index i = c + 1 throughout. */
    for (int i = 0; i <= w + 1; i++) {
      int c = i - 1, k = c < w - 1 ? c : w - 1;
      uint32_t pc = k < 0 ? 0 : id[k + 1] - iu[k + 1];
      int ip = i + 1 <= w + 1 ? i + 1 : w + 1;
      a1[i] = a0[ip] + pc;
      if (i <= w) {
        int k1 = c - 1 < w - 1 ? c - 1 : w - 1;
        uint32_t pm = k1 < 0 ? 0 : id[k1 + 1] - iu[k1 + 1];
        b1[i] = (i >= 1 ? b0[i - 1] : 0) + pm;
      }
    }
    uint32_t *t = tilted + (size_t)(r + 1) * stride;
    for (int X = 0; X <= w; X++) t[X] = a1[X] - b1[X];
    uint32_t *s;
    s = a0, a0 = a1, a1 = s;
    s = b0, b0 = b1, b1 = s;
  }
}

/* ---- grouping ------------------------------------------------------------------- */

typedef struct box {
  int x, y, w, h;
} box;

/* groupRectangles' similarity: every side within eps times the mean of the
 * two smaller sides. */
static int similar(const box *a, const box *b, double eps) {
  double delta = eps * ((a->w < b->w ? a->w : b->w) + (a->h < b->h ? a->h : b->h)) * 0.5;
  return fabs((double)a->x - b->x) <= delta && fabs((double)a->y - b->y) <= delta &&
         fabs((double)(a->x + a->w) - (b->x + b->w)) <= delta &&
         fabs((double)(a->y + a->h) - (b->y + b->h)) <= delta;
}

static int find_root(int *parent, int i) {
  int r = i;
  while (parent[r] != r) r = parent[r];
  while (parent[i] != r) {
    int n = parent[i];
    parent[i] = r;
    i = n;
  }
  return r;
}

/* Work space for n boxes: parent, label, class sums. */
#define GROUP_BYTES_PER_BOX (sizeof(box) + 2 * sizeof(int) + 4 * sizeof(int64_t) + sizeof(int))

/* Groups n boxes (in place over the work space); returns the class count and
 * leaves the surviving classes in out (at most max_out) by neighbours. */
static int group_boxes(const box *bx, int n, int min_neighbors, double eps, void *work,
                       fr__cascade_hit *out, int max_out) {
  int *parent = (int *)work, *label = parent + n;
  int64_t *acc = (int64_t *)(label + n); /* 4 per class */
  int *count = (int *)(acc + (size_t)4 * n);
  for (int i = 0; i < n; i++) parent[i] = i;
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++) {
      if (!similar(&bx[i], &bx[j], eps)) continue;
      int a = find_root(parent, i), b = find_root(parent, j);
      if (a != b) parent[b > a ? b : a] = b > a ? a : b;
    }
  /* Classes numbered by their first box, as cv::partition does. */
  int nc = 0;
  for (int i = 0; i < n; i++) label[i] = -1;
  for (int i = 0; i < n; i++) {
    int r = find_root(parent, i);
    if (label[r] < 0) label[r] = nc++;
    label[i] = label[r];
  }
  memset(acc, 0, (size_t)4 * nc * sizeof *acc);
  memset(count, 0, (size_t)nc * sizeof *count);
  for (int i = 0; i < n; i++) {
    int k = label[i];
    acc[4 * k] += bx[i].x, acc[4 * k + 1] += bx[i].y, acc[4 * k + 2] += bx[i].w, acc[4 * k + 3] += bx[i].h;
    count[k]++;
  }
  /* Mean boxes, rounded as saturate_cast<int>(float) does, written over the
   * sums: class i's box (16 bytes at 16i) never reaches class i+1's sums
   * (at 32i + 32), and its own sums are read first. */
  box *mean = (box *)acc;
  for (int i = 0; i < nc; i++) {
    float s = 1.f / (float)count[i];
    box r = {(int)lrintf((float)acc[4 * i] * s), (int)lrintf((float)acc[4 * i + 1] * s),
             (int)lrintf((float)acc[4 * i + 2] * s), (int)lrintf((float)acc[4 * i + 3] * s)};
    mean[i] = r;
  }
  int kept = 0;
  for (int i = 0; i < nc; i++) {
    int n1 = count[i];
    if (n1 <= min_neighbors) continue;
    box r1 = mean[i];
    int j;
    for (j = 0; j < nc; j++) {
      int n2 = count[j];
      if (j == i || n2 <= min_neighbors) continue;
      box r2 = mean[j];
      int dx = (int)lrint(r2.w * eps), dy = (int)lrint(r2.h * eps);
      if (r1.x >= r2.x - dx && r1.y >= r2.y - dy && r1.x + r1.w <= r2.x + r2.w + dx &&
          r1.y + r1.h <= r2.y + r2.h + dy && (n2 > (n1 > 3 ? n1 : 3) || n1 < 3))
        break;
    }
    if (j < nc) continue;
    /* Insert by neighbours, most first; ties keep class order. */
    int pos = kept < max_out ? kept : max_out;
    while (pos > 0 && out[pos - 1].neighbors < n1) pos--;
    if (pos >= max_out) {
      kept++;
      continue;
    }
    int last = kept < max_out ? kept : max_out - 1;
    memmove(&out[pos + 1], &out[pos], (size_t)(last - pos) * sizeof *out);
    out[pos] = (fr__cascade_hit){r1.x, r1.y, r1.w, r1.h, n1};
    kept++;
  }
  return kept < max_out ? kept : max_out;
}

/* ---- the scan --------------------------------------------------------------------- */

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Window positions below which a scale is not split over the pool (about
 * half a millisecond of rejections). */
#define SPLIT_MIN_WINDOWS 16384

/* fr__cascade_detect with the pyramid's first factor f0: below 1 the image is
 * first enlarged by 1 / f0, so that windows smaller than the training window
 * are found too (the eyes of small faces need it); 1 is OpenCV's pyramid. */
static fr_status detect_from(fr_context *ctx, const fr__cascade *c, const fr_image *img,
                             const fr__cascade_params *p, double f0, fr__cascade_hit *out,
                             int max_out, int *n_out, fr_error *err) {
  if (n_out) *n_out = 0;
  if (!ctx || !c || !img || !p || !n_out || (max_out > 0 && !out))
    return fr__fail(err, FR_E_INVALID, "fr__cascade_detect: NULL argument");
  if (!(p->scale_factor > 1.0001) || !(p->scale_factor < 100))
    return fr__fail(err, FR_E_INVALID, "cascade: scale factor %g must be above 1", p->scale_factor);
  fr_status st = fr__image_check(img, err);
  if (st != FR_OK) return st;
  if (max_out <= 0) return FR_OK;
  const int W = img->width, H = img->height, haar = c->type == FR__CASCADE_HAAR;
  /* An enlarging first factor makes the first scaled image the largest. */
  if (!(f0 >= 1.0 / 16) || f0 > 1) f0 = 1;
  /* Bounds the enlarged sides (and S below) in floating point first, so that
   * none of the int sizes computed next can overflow. */
  if ((W / f0 + 3) * (H / f0 + 3) > (double)INT32_MAX)
    return fr__fail(err, FR_E_LIMIT, "cascade: image %dx%d too large", W, H);
  /* (One spare pixel: the scan below recomputes the sides from a float.) */
  const int W0 = (int)lrint(W / f0) + 1, H0 = (int)lrint(H / f0) + 1;
  const int WM = W0 > W ? W0 : W, HM = H0 > H ? H0 : H;
  const int S = WM + 1;
  if ((size_t)S * (size_t)(HM + 1) > (size_t)INT32_MAX)
    return fr__fail(err, FR_E_LIMIT, "cascade: image %dx%d too large", WM, HM);

  /* The scales, as detectMultiScale picks them. */
  enum { MAX_SCALES = 512 };
  float scales[MAX_SCALES];
  int n_scales = 0;
  for (double f = f0; n_scales < MAX_SCALES; f *= p->scale_factor) {
    int win_w = (int)lrint(c->width * f), win_h = (int)lrint(c->height * f);
    int sw = (int)lrint(W / f), sh = (int)lrint(H / f);
    if (sw - c->width <= 0 || sh - c->height <= 0) break;
    if (p->max_size > 0 && (win_w > p->max_size || win_h > p->max_size)) break;
    if (win_w < p->min_size || win_h < p->min_size) continue;
    scales[n_scales++] = (float)f;
  }
  if (n_scales == 0) return FR_OK;

  /* Carve the context's scratch. */
  const size_t pix = (size_t)WM * HM, ints = (size_t)S * (HM + 1);
  const size_t node_bytes = (size_t)c->n_nodes * (haar ? sizeof(hnode) : sizeof(lnode));
  int cap = 8192 + (int)(pix / 64 < 1 << 24 ? pix / 64 : 1 << 24);
  size_t off_gray = 0, off_scaled = off_gray + align64((size_t)W * H), off_tab = off_scaled + align64(pix);
  size_t off_sum = off_tab + align64((size_t)4 * WM * sizeof(int32_t));
  size_t off_sq = off_sum + align64(ints * 4);
  size_t off_tilt = off_sq + (haar ? align64(ints * 4) : 0);
  size_t off_tmp = off_tilt + (c->has_tilted ? align64(ints * 4) : 0);
  size_t off_mask = off_tmp + (c->has_tilted ? align64((size_t)4 * (WM + 2) * 4) : 0);
  size_t off_nodes = off_mask + align64(pix);
  size_t off_boxes = off_nodes + align64(node_bytes);
  size_t total = off_boxes + (size_t)cap * GROUP_BYTES_PER_BOX;
  uint8_t *mem = (uint8_t *)fr__context_scratch(ctx, total / sizeof(float) + 1);
  if (!mem) return fr__fail(err, FR_E_NOMEM, "out of memory scanning a %dx%d image", W, H);
  uint8_t *gray = mem + off_gray, *scaled = mem + off_scaled, *mask = mem + off_mask;
  int32_t *tab = (int32_t *)(mem + off_tab);
  uint32_t *sum = (uint32_t *)(mem + off_sum);
  uint32_t *sq = haar ? (uint32_t *)(mem + off_sq) : NULL;
  uint32_t *tilt = c->has_tilted ? (uint32_t *)(mem + off_tilt) : NULL;
  uint32_t *tmp = c->has_tilted ? (uint32_t *)(mem + off_tmp) : NULL;
  box *boxes = (box *)(mem + off_boxes);
  void *heap = NULL; /* the boxes and work space when they outgrow the scratch */
  int n_boxes = 0;

  scan j;
  memset(&j, 0, sizeof j);
  j.c = c;
  j.S = S;
  j.sum = sum;
  j.sq = sq;
  j.tilted = tilt;
  if (haar) {
    hnode *hn = (hnode *)(mem + off_nodes);
    compile_haar(c, S, hn);
    j.hn = hn;
    j.norm[0] = 1 * S + 1;
    j.norm[1] = 1 * S + (c->width - 1);
    j.norm[2] = (c->height - 1) * S + 1;
    j.norm[3] = (c->height - 1) * S + (c->width - 1);
    j.norm_area = (double)(c->width - 2) * (c->height - 2);
  } else {
    lnode *ln = (lnode *)(mem + off_nodes);
    compile_lbp(c, S, ln);
    j.ln = ln;
  }
  to_gray(img, gray);
  fr_pool *pool = fr__context_pool(ctx);
#ifdef HAVE_LBP_AVX2
  const int lbp_avx2 = !haar && c->stumps && !p->scalar && fr__cpu()->avx2;
#else
  const int lbp_avx2 = 0;
#endif
  const int threads = fr_pool_size(pool);

  for (int si = 0; si < n_scales; si++) {
    const float f = scales[si];
    int sw = (int)lrint(W / f), sh = (int)lrint(H / f);
    const uint8_t *src = gray;
    if (sw != W || sh != H) {
      resize_gray(gray, W, H, scaled, sw, sh, tab, tab + WM, tab + 2 * WM, tab + 3 * WM);
      src = scaled;
    }
    fr__cascade_integrals(src, sw, sh, sw, S, sum, sq, tilt, tmp);
    j.ww = sw - c->width;
    j.wh = sh - c->height;
    if (j.ww <= 0 || j.wh <= 0) continue;
    j.ystep = f >= 2.f ? 1 : 2;
    memset(mask, 0, (size_t)j.ww * j.wh);
    j.mask = mask;
    int rows = (j.wh + j.ystep - 1) / j.ystep;
    /* Small scans (the eye search in a face, a large scale's last few
     * windows) stay on this thread: waking the pool costs more than they do. */
    int tasks = threads > 1 && (size_t)j.ww * (size_t)j.wh >= SPLIT_MIN_WINDOWS
                    ? (rows < 4 * threads ? rows : 4 * threads)
                    : 1;
    j.rows_per_task = (rows + tasks - 1) / tasks * j.ystep;
    tasks = (j.wh + j.rows_per_task - 1) / j.rows_per_task;
    fr__pool_run(pool, tasks,
                 !haar ? (lbp_avx2 ? scan_lbp_avx2 : scan_lbp)
                       : c->stumps && !c->has_tilted ? scan_haar_stumps : scan_haar,
                 &j);

    const int win_w = (int)lrintf(c->width * f), win_h = (int)lrintf(c->height * f);
    for (int y = 0; y < j.wh; y++) {
      const uint8_t *m = mask + (size_t)y * j.ww;
      for (int x = 0; x < j.ww; x++) {
        /* Hits are rare: skip empty stretches eight positions at a time. */
        uint64_t eight;
        while (x + 8 <= j.ww && (memcpy(&eight, m + x, 8), eight == 0)) x += 8;
        if (x >= j.ww) break;
        if (!m[x]) continue;
        if (n_boxes == cap) {
          /* Rare: more raw hits than the scratch holds; move to the heap. */
          if (cap > (1 << 26)) {
            fr__free(heap);
            return fr__fail(err, FR_E_LIMIT, "cascade: more than %d raw windows", cap);
          }
          void *nh = fr__malloc((size_t)cap * 2 * GROUP_BYTES_PER_BOX);
          if (!nh) {
            fr__free(heap);
            return fr__fail(err, FR_E_NOMEM, "out of memory for %d raw windows", cap * 2);
          }
          memcpy(nh, boxes, (size_t)n_boxes * sizeof *boxes);
          fr__free(heap);
          heap = nh;
          boxes = heap;
          cap *= 2;
        }
        boxes[n_boxes++] = (box){(int)lrintf((float)x * f), (int)lrintf((float)y * f), win_w, win_h};
      }
    }
  }
  if (n_boxes > 0 && p->min_neighbors == 0) {
    /* As groupRectangles with a threshold of 0: the raw windows. */
    int n = n_boxes < max_out ? n_boxes : max_out;
    for (int i = 0; i < n; i++) out[i] = (fr__cascade_hit){boxes[i].x, boxes[i].y, boxes[i].w, boxes[i].h, 1};
    *n_out = n;
  } else if (n_boxes > 0)
    *n_out = group_boxes(boxes, n_boxes, p->min_neighbors > 0 ? p->min_neighbors : 0, p->group_eps,
                         boxes + cap, out, max_out);
  fr__free(heap);
  return FR_OK;
}

fr_status fr__cascade_detect(fr_context *ctx, const fr__cascade *c, const fr_image *img,
                             const fr__cascade_params *p, fr__cascade_hit *out, int max_out,
                             int *n_out, fr_error *err) {
  return detect_from(ctx, c, img, p, 1.0, out, max_out, n_out, err);
}

/* ---- eyes ---------------------------------------------------------------------- */

/* Where the 68-point net puts the eye centres in Haar and LBP face boxes on
 * LFW (300 images, not those the figures in README.md are measured on):
 * 0.36 box widths apart, 0.38 box heights below the top. */
#define EYE_DISTANCE 0.36
#define EYE_HEIGHT 0.38
/* Candidates kept per face, most raw windows first. */
#define EYE_CANDIDATES 16
/* Faces whose eyes would need more enlargement than this are skipped. */
#define EYE_MAX_ENLARGE 4.0

fr_status fr__cascade_find_eyes(fr_context *ctx, const fr__cascade *eye, const fr_image *img,
                                fr_face *face, int *found, fr_error *err) {
  if (found) *found = 0;
  if (!ctx || !eye || !img || !face)
    return fr__fail(err, FR_E_INVALID, "fr__cascade_find_eyes: NULL argument");
  fr_status st = fr__image_check(img, err);
  if (st != FR_OK) return st;
  const fr_rect b = face->box;
  if (!isfinite(b.x) || !isfinite(b.y) || !(b.width > 0) || !(b.height > 0) ||
      !(b.width < 1e6f) || !(b.height < 1e6f))
    return FR_OK;
  /* The top of the box, clipped to the image, as a view into it. Each edge
   * is clamped to the image before it becomes an int: a box far outside
   * (x = 1e20 is finite) would otherwise overflow the conversion. */
  const double bw = b.width, bh = b.height, iw = img->width, ih = img->height;
  int x0 = (int)fmin(iw, fmax(0.0, floor(b.x))), y0 = (int)fmin(ih, fmax(0.0, floor(b.y)));
  int x1 = (int)fmax(0.0, fmin(iw, ceil((double)b.x + bw)));
  int y1 = (int)fmax(0.0, fmin(ih, ceil((double)b.y + FR__EYE_ROI_HEIGHT * bh)));
  if (x1 - x0 < 2 || y1 - y0 < 2) return FR_OK;
  fr_image roi = *img;
  roi.data = img->data + (size_t)y0 * (size_t)img->stride + (size_t)x0 * (size_t)fr_pixel_size(img->format);
  roi.width = x1 - x0;
  roi.height = y1 - y0;
  /* Eyes from FR__EYE_MIN_SIZE of the face's width up: when that is below
   * the cascade's window the view is enlarged to make it the window. */
  const double min_eye = FR__EYE_MIN_SIZE * bw, max_eye = FR__EYE_MAX_SIZE * bw;
  double f0 = min_eye / eye->width;
  if (f0 * EYE_MAX_ENLARGE < 1.0) return FR_OK;
  if (f0 > 1.0) f0 = 1.0;
  fr__cascade_params p = {FR__CASCADE_SCALE, -1, (int)floor(min_eye),
                          (int)ceil(max_eye), FR__CASCADE_EPS, 0};
  fr__cascade_hit h[EYE_CANDIDATES];
  int n = 0;
  st = detect_from(ctx, eye, &roi, &p, f0, h, EYE_CANDIDATES, &n, err);
  if (st != FR_OK) return st;
  /* Every group of eye windows is a candidate, even a single window: the
   * eye cascade often finds an eye only once or twice at these sizes, and
   * requiring OpenCV's usual 4 windows lost 10 of every 100 LFW faces' eyes
   * while the pair test below rejects most stray windows anyway.
   * The best pair: one eye on each side of the box's centre line, level
   * within tan 20 degrees, 0.2-0.75 box widths apart, sizes within 1.6x.
   * Pairs score by their windows (more windows, surer eyes), less penalties
   * for an off-centre midpoint, for tilt, and for a distance and height
   * unlike the usual ones. */
  const double fcx = b.x + bw / 2;
  double best = -INFINITY;
  int bl = -1, br = -1;
  for (int i = 0; i < n; i++) {
    double lx = x0 + h[i].x + h[i].w * 0.5, ly = y0 + h[i].y + h[i].h * 0.5;
    if (lx >= fcx) continue;
    for (int k = 0; k < n; k++) {
      double rx = x0 + h[k].x + h[k].w * 0.5, ry = y0 + h[k].y + h[k].h * 0.5;
      if (rx <= fcx) continue;
      double dx = rx - lx, dy = ry - ly;
      if (dx < 0.2 * bw || dx > 0.75 * bw || fabs(dy) > 0.364 * dx) continue;
      int big = h[i].w > h[k].w ? h[i].w : h[k].w, small = h[i].w < h[k].w ? h[i].w : h[k].w;
      if (big > 1.6 * small) continue;
      double score = log((double)h[i].neighbors) + log((double)h[k].neighbors) -
                     8.0 * fabs((lx + rx) / 2 - fcx) / bw - 2.0 * fabs(dy) / dx -
                     10.0 * fabs(dx / bw - EYE_DISTANCE) - 10.0 * fabs(((ly + ry) / 2 - b.y) / bh - EYE_HEIGHT);
      if (score > best) best = score, bl = i, br = k;
    }
  }
  if (bl < 0) return FR_OK;
  face->landmarks[0] = (fr_point){(float)(x0 + h[bl].x + h[bl].w * 0.5), (float)(y0 + h[bl].y + h[bl].h * 0.5)};
  face->landmarks[1] = (fr_point){(float)(x0 + h[br].x + h[br].w * 0.5), (float)(y0 + h[br].y + h[br].h * 0.5)};
  face->n_landmarks = 2;
  if (found) *found = 1;
  return FR_OK;
}

/* ---- the detectors ------------------------------------------------------------- */

static void cascade_unload(fr_detector *det) {
  fr__cascade_detector *d = det->state;
  if (d) {
    fr__cascade_free(d->face);
    fr__cascade_free(d->eye);
    fr__free(d);
  }
  det->state = NULL;
}

/* Loads the face cascade from model_dir (the folder the loader found it in;
 * a cascade has no network, so m is empty), and the eye cascade from there
 * or from Debian's opencv-data folder when either has it (a detector
 * without it gives boxes only); a broken eye cascade file is an error like
 * a broken face cascade. */
static fr_status cascade_take(fr_detector *det, fr__model *m, const char *model_dir,
                              fr_error *err) {
  (void)m;
  fr__cascade_detector *d = fr__calloc(1, sizeof *d);
  if (!d) return fr__fail(err, FR_E_NOMEM, "out of memory loading a cascade");
  det->state = d;
  /* The kernel choice (FACEREC_KERNELS=scalar, or a test's scalar table)
   * covers the cascade scan's own vector code as well. */
  d->scalar = (det->kernels ? det->kernels : fr__kernels_best()) == &fr__kernels_scalar;
  char path[4096];
  fr_status st = fr__path_join(path, sizeof path, model_dir, det->impl->net.files[0], err);
  if (st != FR_OK) return st;
  st = fr__cascade_load(path, &d->face, err);
  if (st != FR_OK) return st;
  fr__cascade_type want = det->kind == FR_DETECTOR_LBP ? FR__CASCADE_LBP : FR__CASCADE_HAAR;
  if (d->face->type != want)
    return fr__fail(err, FR_E_MODEL, "%s is not a %s cascade", path, want == FR__CASCADE_LBP ? "LBP" : "Haar");
  const char *dirs[2] = {model_dir, FR__OPENCV_DATA "/haarcascades"};
  for (int i = 0; i < 2; i++) {
    st = fr__path_join(path, sizeof path, dirs[i], FR__EYE_FILE, err);
    if (st != FR_OK) return st;
    FILE *f = fopen(path, "rb");
    if (!f) continue;
    fclose(f);
    st = fr__cascade_load(path, &d->eye, err);
    if (st != FR_OK) return st;
    if (d->eye->type != FR__CASCADE_HAAR)
      return fr__fail(err, FR_E_MODEL, "%s is not a Haar cascade", path);
    break;
  }
  return FR_OK;
}

/*
 * A face's score is its raw window count n mapped to n / (n + 4), so that a
 * min_score picks OpenCV's minNeighbors: a group is kept when its score
 * reaches min_score, and the default 0.5 is n >= 4, minNeighbors 3.
 */
#define NEIGHBOR_SCALE 4.0

static fr_status cascade_detect(fr_context *ctx, const fr_detector *det, const fr_image *img,
                                const fr__detect_params *p, fr_face *faces, int *n_out,
                                fr_error *err) {
  const fr__cascade_detector *d = det->state;
  const fr__cascade *c = d->face;
  double s = p->min_score < 0.999f ? p->min_score : 0.999;
  int need = (int)ceil(NEIGHBOR_SCALE * s / (1.0 - s) - 1e-9); /* smallest n scoring >= s */
  fr__cascade_params cp = {FR__CASCADE_SCALE, need > 1 ? need - 1 : 0, p->input_size, 0, FR__CASCADE_EPS,
                           d->scalar};
  /* The hits are written into the caller's face array itself (a hit is far
   * smaller than a face) and turned into faces from the last one back, so
   * that each face overwrites only hits already converted. */
  _Static_assert(sizeof(fr_face) >= sizeof(fr__cascade_hit), "a hit must fit in a face");
  fr__cascade_hit *hits = (fr__cascade_hit *)(void *)faces;
  int n = 0;
  fr_status st = fr__cascade_detect(ctx, c, img, &cp, hits, p->max_keep, &n, err);
  if (st != FR_OK) return st;
  for (int i = n - 1; i >= 0; i--) {
    fr__cascade_hit h = hits[i];
    fr_face *f = &faces[i];
    memset(f, 0, sizeof *f);
    f->box = (fr_rect){(float)h.x, (float)h.y, (float)h.w, (float)h.h};
    f->score = (float)(h.neighbors / (h.neighbors + NEIGHBOR_SCALE));
  }
  int k = n;
  /* groupRectangles already merged overlapping windows; suppression beyond
   * that only runs when the caller asks for an overlap below 1. */
  if (p->iou_threshold < 1.f) k = fr__nms(faces, k, p->iou_threshold, p->max_keep);
  /* Each face's eyes, when the eye cascade is loaded. */
  for (int i = 0; i < k && d->eye && !p->skip_eyes; i++) {
    st = fr__cascade_find_eyes(ctx, d->eye, img, &faces[i], NULL, err);
    if (st != FR_OK) return st;
  }
  *n_out = k;
  return FR_OK;
}

const fr__detector_impl fr__detector_haar = {
    .kind = FR_DETECTOR_HAAR,
    /* No network: the loader finds the folder of the XML file. */
    .net = {.name = "haar",
            .title = "Haar cascade",
            .format = FR__NET_NONE,
            .files = {FR__HAAR_FILE},
            .fallback_dir = FR__OPENCV_DATA "/haarcascades"},
    .min_score = 0.5f,
    .iou = 1.f,
    .n_landmarks = 0, /* not every face: the eyes, when found, are 2 points */
    .input_min = 1,
    .input_max = 1 << 16,
    .input_step = 1,
    .take = cascade_take,
    .unload = cascade_unload,
    .detect = cascade_detect,
};

const fr__detector_impl fr__detector_lbp = {
    .kind = FR_DETECTOR_LBP,
    /* No network: the loader finds the folder of the XML file. */
    .net = {.name = "lbp",
            .title = "LBP cascade",
            .format = FR__NET_NONE,
            .files = {FR__LBP_FILE},
            .fallback_dir = FR__OPENCV_DATA "/lbpcascades"},
    .min_score = 0.5f,
    .iou = 1.f,
    .n_landmarks = 0, /* not every face: the eyes, when found, are 2 points */
    .input_min = 1,
    .input_max = 1 << 16,
    .input_step = 1,
    .take = cascade_take,
    .unload = cascade_unload,
    .detect = cascade_detect,
};

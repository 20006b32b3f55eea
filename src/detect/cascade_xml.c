/*
 * cascade_xml.c - reads OpenCV's cascade XML into an fr__cascade.
 *
 * The files are OpenCV FileStorage XML: elements, text holding numbers, a
 * declaration, comments and a type_id attribute, nothing else (no entities,
 * CDATA or namespaces are written). A full XML library would accept far more
 * than this and still leave every check on the meaning to us, so a small
 * reader builds a tree of element spans over the caller's buffer and the
 * cascade is then read from it with every count, index and rectangle checked:
 * hostile bytes end in an error, never in a read outside the buffer or a
 * cascade that could index outside its arrays or its window.
 */
#include "detect/cascade.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a minimal XML tree ---------------------------------------------------- */

#define XML_MAX_DEPTH 64

typedef struct xnode {
  size_t name, name_len; /* offsets into the buffer */
  size_t text, text_len; /* the first non-blank text run directly inside (0, 0: none) */
  int child, next;       /* first child, next sibling; -1: none */
} xnode;

typedef struct xdoc {
  const char *s;
  size_t n;
  xnode *nodes;
  int count;
  int root;
} xdoc;

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == ':' || c == '.' || c == '-';
}

/* The offset of needle at or after pos, or (size_t)-1. */
static size_t find(const char *s, size_t n, size_t pos, const char *needle) {
  size_t k = strlen(needle);
  for (size_t i = pos; i + k <= n; i++)
    if (memcmp(s + i, needle, k) == 0) return i;
  return (size_t)-1;
}

static fr_status xml_parse(xdoc *d, fr_error *err) {
  const char *s = d->s;
  size_t n = d->n, pos = 0;
  /* Every element starts with '<', so this bounds the node count. */
  size_t cap = 1;
  for (size_t i = 0; i < n; i++) cap += s[i] == '<';
  d->nodes = fr__malloc(cap * sizeof *d->nodes);
  if (!d->nodes) return fr__fail(err, FR_E_NOMEM, "out of memory for %zu XML elements", cap);
  d->count = 0;
  d->root = -1;
  int stack[XML_MAX_DEPTH], last[XML_MAX_DEPTH]; /* open elements, their last child */
  int depth = 0;
  while (pos < n) {
    if (s[pos] != '<') {
      size_t start = pos;
      while (pos < n && s[pos] != '<') pos++;
      size_t a = start, b = pos;
      while (a < b && is_space(s[a])) a++;
      while (b > a && is_space(s[b - 1])) b--;
      if (a == b) continue;
      if (depth == 0) return fr__fail(err, FR_E_FORMAT, "XML: text outside the root element at byte %zu", a);
      xnode *top = &d->nodes[stack[depth - 1]];
      if (top->text_len == 0) {
        top->text = a;
        top->text_len = b - a;
      }
      continue;
    }
    if (pos + 1 < n && s[pos + 1] == '?') {
      size_t e = find(s, n, pos + 2, "?>");
      if (e == (size_t)-1) return fr__fail(err, FR_E_FORMAT, "XML: unterminated <? at byte %zu", pos);
      pos = e + 2;
      continue;
    }
    if (pos + 3 < n && memcmp(s + pos, "<!--", 4) == 0) {
      size_t e = find(s, n, pos + 4, "-->");
      if (e == (size_t)-1)
        return fr__fail(err, FR_E_FORMAT, "XML: unterminated comment at byte %zu", pos);
      pos = e + 3;
      continue;
    }
    if (pos + 1 < n && s[pos + 1] == '!')
      return fr__fail(err, FR_E_UNSUPPORTED, "XML: <! construct at byte %zu (no DOCTYPE or CDATA in a cascade)", pos);
    int closing = pos + 1 < n && s[pos + 1] == '/';
    size_t name = pos + 1 + (size_t)closing, p = name;
    while (p < n && is_name_char(s[p])) p++;
    size_t name_len = p - name;
    if (name_len == 0) return fr__fail(err, FR_E_FORMAT, "XML: bad tag at byte %zu", pos);
    if (closing) {
      while (p < n && is_space(s[p])) p++;
      if (p >= n || s[p] != '>') return fr__fail(err, FR_E_FORMAT, "XML: bad end tag at byte %zu", pos);
      if (depth == 0) return fr__fail(err, FR_E_FORMAT, "XML: end tag without a start at byte %zu", pos);
      const xnode *top = &d->nodes[stack[depth - 1]];
      if (top->name_len != name_len || memcmp(s + top->name, s + name, name_len) != 0)
        return fr__fail(err, FR_E_FORMAT, "XML: mismatched end tag at byte %zu", pos);
      depth--;
      pos = p + 1;
      continue;
    }
    /* Attributes: name="value" or name='value', skipped. */
    int self_close = 0;
    for (;;) {
      while (p < n && is_space(s[p])) p++;
      if (p >= n) return fr__fail(err, FR_E_FORMAT, "XML: unterminated tag at byte %zu", pos);
      if (s[p] == '>') break;
      if (s[p] == '/') {
        if (p + 1 < n && s[p + 1] == '>') {
          self_close = 1;
          p++;
          break;
        }
        return fr__fail(err, FR_E_FORMAT, "XML: bad tag at byte %zu", pos);
      }
      size_t a = p;
      while (p < n && is_name_char(s[p])) p++;
      if (p == a) return fr__fail(err, FR_E_FORMAT, "XML: bad attribute at byte %zu", a);
      while (p < n && is_space(s[p])) p++;
      if (p >= n || s[p] != '=') return fr__fail(err, FR_E_FORMAT, "XML: attribute without value at byte %zu", a);
      p++;
      while (p < n && is_space(s[p])) p++;
      if (p >= n || (s[p] != '"' && s[p] != '\'')) return fr__fail(err, FR_E_FORMAT, "XML: unquoted attribute at byte %zu", a);
      char q = s[p++];
      while (p < n && s[p] != q) p++;
      if (p >= n) return fr__fail(err, FR_E_FORMAT, "XML: unterminated attribute at byte %zu", a);
      p++;
    }
    pos = p + 1;
    if ((size_t)d->count >= cap) return fr__fail(err, FR_E_INTERNAL, "XML: element count");
    int id = d->count++;
    d->nodes[id] = (xnode){name, name_len, 0, 0, -1, -1};
    if (depth == 0) {
      if (d->root >= 0) return fr__fail(err, FR_E_FORMAT, "XML: a second root element at byte %zu", name - 1);
      d->root = id;
    } else {
      int parent = stack[depth - 1];
      if (last[depth - 1] < 0) d->nodes[parent].child = id;
      else d->nodes[last[depth - 1]].next = id;
      last[depth - 1] = id;
    }
    if (!self_close) {
      if (depth == XML_MAX_DEPTH) return fr__fail(err, FR_E_LIMIT, "XML: nested deeper than %d", XML_MAX_DEPTH);
      stack[depth] = id;
      last[depth] = -1;
      depth++;
    }
  }
  if (depth != 0) return fr__fail(err, FR_E_FORMAT, "XML: truncated (%d elements left open)", depth);
  if (d->root < 0) return fr__fail(err, FR_E_FORMAT, "XML: no root element");
  return FR_OK;
}

static int name_is(const xdoc *d, int id, const char *name) {
  const xnode *x = &d->nodes[id];
  size_t k = strlen(name);
  return x->name_len == k && memcmp(d->s + x->name, name, k) == 0;
}

/* The first child element called name, or -1. */
static int child(const xdoc *d, int id, const char *name) {
  if (id < 0) return -1;
  for (int c = d->nodes[id].child; c >= 0; c = d->nodes[c].next)
    if (name_is(d, c, name)) return c;
  return -1;
}

static int text_is(const xdoc *d, int id, const char *text) {
  if (id < 0) return 0;
  const xnode *x = &d->nodes[id];
  size_t k = strlen(text);
  return x->text_len == k && memcmp(d->s + x->text, text, k) == 0;
}

/* ---- numbers ----------------------------------------------------------------- */

/* A cursor over an element's text, read as blank-separated numbers. */
typedef struct numbers {
  const char *p, *end;
} numbers;

static numbers numbers_of(const xdoc *d, int id) {
  const xnode *x = &d->nodes[id];
  return (numbers){d->s + x->text, d->s + x->text + x->text_len};
}

/*
 * The next number: [+-]digits[.digits][(e|E)[+-]digits] with at least one
 * mantissa digit, as OpenCV writes them. Read without strtod so that the
 * caller's locale cannot change the decimal point. Returns 1 and the value,
 * 0 at the end, -1 on a malformed or non-finite token.
 */
static int next_number(numbers *ns, double *out) {
  const char *p = ns->p, *e = ns->end;
  while (p < e && is_space(*p)) p++;
  if (p == e) {
    ns->p = p;
    return 0;
  }
  int neg = 0;
  if (*p == '+' || *p == '-') neg = *p++ == '-';
  uint64_t mant = 0;
  int digits = 0, exp10 = 0, any = 0;
  while (p < e && *p >= '0' && *p <= '9') {
    any = 1;
    if (digits < 19) {
      mant = mant * 10 + (uint64_t)(*p - '0');
      if (mant) digits++;
    } else {
      exp10++;
    }
    p++;
  }
  if (p < e && *p == '.') {
    p++;
    while (p < e && *p >= '0' && *p <= '9') {
      any = 1;
      if (digits < 19) {
        mant = mant * 10 + (uint64_t)(*p - '0');
        if (mant) digits++;
        exp10--;
      }
      p++;
    }
  }
  if (!any) return -1;
  if (p < e && (*p == 'e' || *p == 'E')) {
    p++;
    int eneg = 0, ex = 0, edig = 0;
    if (p < e && (*p == '+' || *p == '-')) eneg = *p++ == '-';
    while (p < e && *p >= '0' && *p <= '9') {
      if (ex < 100000) ex = ex * 10 + (*p - '0');
      edig++;
      p++;
    }
    if (!edig) return -1;
    exp10 += eneg ? -ex : ex;
  }
  if (p < e && !is_space(*p)) return -1;
  ns->p = p;
  double v = (double)mant;
  if (mant != 0) {
    if (exp10 < -400) v = 0;
    else if (exp10 > 400) return -1;
    else v = exp10 < 0 ? v / pow(10.0, -exp10) : v * pow(10.0, exp10);
  }
  if (!isfinite(v)) return -1;
  *out = neg ? -v : v;
  return 1;
}

/* Blank-separated numbers in an element's text (-1 on a malformed one). */
static int count_numbers(const xdoc *d, int id) {
  numbers ns = numbers_of(d, id);
  double v;
  int k = 0, r;
  while ((r = next_number(&ns, &v)) == 1)
    if (++k == 1 << 24) return -1;
  return r == 0 ? k : -1;
}

/* The next number as an integer in [lo, hi]; -1 when it is not one. */
static int next_int(numbers *ns, long long lo, long long hi, long long *out) {
  double v;
  if (next_number(ns, &v) != 1) return -1;
  if (v != floor(v) || v < (double)lo || v > (double)hi) return -1;
  *out = (long long)v;
  return 0;
}

static int next_float(numbers *ns, float *out) {
  double v;
  if (next_number(ns, &v) != 1) return -1;
  if (fabs(v) > 3.0e38) return -1;
  *out = (float)v;
  return 0;
}

/* A lone integer element in [lo, hi]. */
static fr_status int_field(const xdoc *d, int parent, const char *name, long long lo, long long hi,
                           int *out, fr_error *err) {
  int id = child(d, parent, name);
  if (id < 0) return fr__fail(err, FR_E_FORMAT, "cascade: <%s> missing", name);
  numbers ns = numbers_of(d, id);
  long long v;
  double extra;
  if (next_int(&ns, lo, hi, &v) != 0 || next_number(&ns, &extra) != 0)
    return fr__fail(err, FR_E_FORMAT, "cascade: <%s> is not an integer from %lld to %lld", name, lo, hi);
  *out = (int)v;
  return FR_OK;
}

/* ---- the cascade ------------------------------------------------------------ */

/* OpenCV subtracts this from each stage threshold (THRESHOLD_EPS) so that a
 * leaf sum equal to the threshold in float arithmetic passes. */
#define STAGE_EPS 1e-5f

/* Limits on the parts: far beyond OpenCV's cascades, small enough that the
 * per-call tables stay modest. */
#define MAX_STAGES 4096
#define MAX_TREE_NODES 1024
#define MAX_NODES (1 << 22)
#define MAX_FEATURES (1 << 22)

void fr__cascade_free(fr__cascade *c) {
  if (!c) return;
  fr__free(c->stages);
  fr__free(c->weak);
  fr__free(c->nodes);
  fr__free(c->leaves);
  fr__free(c->features);
  fr__free(c);
}

/* Children called "_" of an element (the FileStorage sequence items). */
static int count_items(const xdoc *d, int id) {
  int k = 0;
  for (int c = d->nodes[id].child; c >= 0; c = d->nodes[c].next) k += name_is(d, c, "_");
  return k;
}

static fr_status read_features(const xdoc *d, int feats, fr__cascade *c, fr_error *err) {
  int n = count_items(d, feats);
  if (n == 0) return fr__fail(err, FR_E_FORMAT, "cascade: no features");
  if (n > MAX_FEATURES) return fr__fail(err, FR_E_LIMIT, "cascade: %d features (limit %d)", n, MAX_FEATURES);
  c->features = fr__calloc((size_t)n, sizeof *c->features);
  if (!c->features) return fr__fail(err, FR_E_NOMEM, "out of memory for %d cascade features", n);
  c->n_features = n;
  int i = 0;
  const int W = c->width, H = c->height;
  for (int it = d->nodes[feats].child; it >= 0; it = d->nodes[it].next) {
    if (!name_is(d, it, "_")) continue;
    fr__cascade_feature *f = &c->features[i];
    if (c->type == FR__CASCADE_LBP) {
      int r = child(d, it, "rect");
      if (r < 0) return fr__fail(err, FR_E_FORMAT, "cascade: LBP feature %d has no <rect>", i);
      numbers ns = numbers_of(d, r);
      long long v[4];
      double extra;
      for (int k = 0; k < 4; k++)
        if (next_int(&ns, 0, FR__CASCADE_MAX_WINDOW, &v[k]) != 0)
          return fr__fail(err, FR_E_FORMAT, "cascade: LBP feature %d: bad rectangle", i);
      if (next_number(&ns, &extra) != 0)
        return fr__fail(err, FR_E_FORMAT, "cascade: LBP feature %d: extra numbers", i);
      f->x = (int)v[0], f->y = (int)v[1], f->w = (int)v[2], f->h = (int)v[3];
      if (f->w < 1 || f->h < 1 || f->x + 3 * f->w > W || f->y + 3 * f->h > H)
        return fr__fail(err, FR_E_FORMAT, "cascade: LBP feature %d (%d %d %d %d) leaves the %dx%d window",
                        i, f->x, f->y, f->w, f->h, W, H);
    } else {
      int rs = child(d, it, "rects");
      if (rs < 0) return fr__fail(err, FR_E_FORMAT, "cascade: Haar feature %d has no <rects>", i);
      int t = child(d, it, "tilted");
      if (t >= 0) {
        numbers ns = numbers_of(d, t);
        long long v;
        double extra;
        if (next_int(&ns, 0, 1, &v) != 0 || next_number(&ns, &extra) != 0)
          return fr__fail(err, FR_E_FORMAT, "cascade: Haar feature %d: <tilted> is not 0 or 1", i);
        f->tilted = (int)v;
        c->has_tilted |= f->tilted;
      }
      for (int r = d->nodes[rs].child; r >= 0; r = d->nodes[r].next) {
        if (!name_is(d, r, "_")) continue;
        if (f->n_rects == 3) return fr__fail(err, FR_E_FORMAT, "cascade: Haar feature %d has more than 3 rectangles", i);
        fr__haar_rect *hr = &f->rect[f->n_rects++];
        numbers ns = numbers_of(d, r);
        long long v[4];
        double extra;
        for (int k = 0; k < 4; k++)
          if (next_int(&ns, 0, FR__CASCADE_MAX_WINDOW, &v[k]) != 0)
            return fr__fail(err, FR_E_FORMAT, "cascade: Haar feature %d: bad rectangle", i);
        if (next_float(&ns, &hr->weight) != 0 || next_number(&ns, &extra) != 0)
          return fr__fail(err, FR_E_FORMAT, "cascade: Haar feature %d: bad rectangle weight", i);
        hr->x = (int)v[0], hr->y = (int)v[1], hr->w = (int)v[2], hr->h = (int)v[3];
        int ok;
        if (f->tilted) /* corners (x,y), (x-h,y+h), (x+w,y+w), (x+w-h,y+w+h) */
          ok = hr->w >= 1 && hr->h >= 1 && hr->x - hr->h >= 0 && hr->x + hr->w <= W &&
               hr->y + hr->w + hr->h <= H;
        else
          ok = hr->w >= 1 && hr->h >= 1 && hr->x + hr->w <= W && hr->y + hr->h <= H;
        if (!ok)
          return fr__fail(err, FR_E_FORMAT, "cascade: Haar feature %d: rectangle %d %d %d %d%s leaves the %dx%d window",
                          i, hr->x, hr->y, hr->w, hr->h, f->tilted ? " (tilted)" : "", W, H);
      }
      if (f->n_rects == 0) return fr__fail(err, FR_E_FORMAT, "cascade: Haar feature %d has no rectangles", i);
    }
    i++;
  }
  return FR_OK;
}

/* Grows an array of `size`-byte items to hold at least need items. */
static int grow(void **arr, int *cap, int need, size_t size) {
  if (need <= *cap) return 0;
  int nc = *cap ? *cap : 64;
  while (nc < need) nc *= 2;
  void *p = fr__realloc(*arr, (size_t)nc * size);
  if (!p) return -1;
  *arr = p;
  *cap = nc;
  return 0;
}

static fr_status read_stages(const xdoc *d, int stages, fr__cascade *c, fr_error *err) {
  const int lbp = c->type == FR__CASCADE_LBP;
  const int node_numbers = lbp ? 3 + 8 : 4;
  int ns_count = count_items(d, stages);
  if (ns_count == 0) return fr__fail(err, FR_E_FORMAT, "cascade: no stages");
  if (ns_count > MAX_STAGES) return fr__fail(err, FR_E_LIMIT, "cascade: %d stages (limit %d)", ns_count, MAX_STAGES);
  c->stages = fr__calloc((size_t)ns_count, sizeof *c->stages);
  if (!c->stages) return fr__fail(err, FR_E_NOMEM, "out of memory for %d stages", ns_count);
  int cap_w = 0, cap_n = 0, cap_l = 0;
  c->stumps = 1;
  int si = 0;
  for (int st = d->nodes[stages].child; st >= 0; st = d->nodes[st].next) {
    if (!name_is(d, st, "_")) continue;
    fr__cascade_stage *S = &c->stages[si];
    int th = child(d, st, "stageThreshold");
    if (th < 0) return fr__fail(err, FR_E_FORMAT, "cascade: stage %d has no <stageThreshold>", si);
    numbers tn = numbers_of(d, th);
    double extra;
    if (next_float(&tn, &S->threshold) != 0 || next_number(&tn, &extra) != 0)
      return fr__fail(err, FR_E_FORMAT, "cascade: stage %d: bad threshold", si);
    S->threshold -= STAGE_EPS;
    int wc = child(d, st, "weakClassifiers");
    if (wc < 0) return fr__fail(err, FR_E_FORMAT, "cascade: stage %d has no <weakClassifiers>", si);
    S->first_weak = c->n_weak;
    for (int w = d->nodes[wc].child; w >= 0; w = d->nodes[w].next) {
      if (!name_is(d, w, "_")) continue;
      int in = child(d, w, "internalNodes"), lv = child(d, w, "leafValues");
      if (in < 0 || lv < 0)
        return fr__fail(err, FR_E_FORMAT, "cascade: stage %d tree %d lacks internalNodes or leafValues", si, S->n_weak);
      int nn = count_numbers(d, in), nl = count_numbers(d, lv);
      if (nn <= 0 || nn % node_numbers != 0 || nn / node_numbers > MAX_TREE_NODES)
        return fr__fail(err, FR_E_FORMAT, "cascade: stage %d tree %d: internalNodes must be 1 to %d groups of %d numbers",
                        si, S->n_weak, MAX_TREE_NODES, node_numbers);
      nn /= node_numbers;
      if (nl != nn + 1)
        return fr__fail(err, FR_E_FORMAT, "cascade: stage %d tree %d: %d nodes need %d leaf values",
                        si, S->n_weak, nn, nn + 1);
      if (c->n_nodes + nn > MAX_NODES) return fr__fail(err, FR_E_LIMIT, "cascade: more than %d nodes", MAX_NODES);
      if (grow((void **)&c->weak, &cap_w, c->n_weak + 1, sizeof *c->weak) ||
          grow((void **)&c->nodes, &cap_n, c->n_nodes + nn, sizeof *c->nodes) ||
          grow((void **)&c->leaves, &cap_l, c->n_leaves + nl, sizeof *c->leaves))
        return fr__fail(err, FR_E_NOMEM, "out of memory for the cascade's trees");
      fr__cascade_weak *W = &c->weak[c->n_weak++];
      W->first_node = c->n_nodes;
      W->n_nodes = nn;
      W->first_leaf = c->n_leaves;
      if (nn != 1) c->stumps = 0;
      numbers ns = numbers_of(d, in);
      for (int k = 0; k < nn; k++) {
        fr__cascade_node *N = &c->nodes[c->n_nodes++];
        memset(N, 0, sizeof *N);
        long long l, r, f;
        if (next_int(&ns, -(long long)nl + 1, nn - 1, &l) != 0 || next_int(&ns, -(long long)nl + 1, nn - 1, &r) != 0 ||
            next_int(&ns, 0, (long long)c->n_features - 1, &f) != 0)
          return fr__fail(err, FR_E_FORMAT, "cascade: stage %d tree %d node %d: child or feature index out of range",
                          si, S->n_weak, k);
        /* A child node must come after its parent, so that every walk ends. */
        if ((l > 0 && l <= k) || (r > 0 && r <= k))
          return fr__fail(err, FR_E_FORMAT, "cascade: stage %d tree %d node %d: a child precedes its parent", si, S->n_weak, k);
        N->left = (int)l, N->right = (int)r, N->feature = (int)f;
        if (lbp) {
          for (int b = 0; b < 8; b++) {
            long long v;
            if (next_int(&ns, INT32_MIN, INT32_MAX, &v) != 0)
              return fr__fail(err, FR_E_FORMAT, "cascade: stage %d node %d: bad LBP subset", si, k);
            N->subset[b] = (uint32_t)(int32_t)v;
          }
        } else if (next_float(&ns, &N->threshold) != 0) {
          return fr__fail(err, FR_E_FORMAT, "cascade: stage %d node %d: bad threshold", si, k);
        }
      }
      numbers ls = numbers_of(d, lv);
      for (int k = 0; k < nl; k++)
        if (next_float(&ls, &c->leaves[c->n_leaves++]) != 0)
          return fr__fail(err, FR_E_FORMAT, "cascade: stage %d: bad leaf value", si);
      S->n_weak++;
    }
    if (S->n_weak == 0) return fr__fail(err, FR_E_FORMAT, "cascade: stage %d has no trees", si);
    int mw = child(d, st, "maxWeakCount");
    if (mw >= 0) {
      int v;
      fr_status s = int_field(d, st, "maxWeakCount", 0, 1 << 30, &v, err);
      if (s != FR_OK) return s;
      if (v != S->n_weak)
        return fr__fail(err, FR_E_FORMAT, "cascade: stage %d says %d trees but has %d", si, v, S->n_weak);
    }
    si++;
  }
  c->n_stages = si;
  return FR_OK;
}

fr_status fr__cascade_parse(const char *bytes, size_t size, fr__cascade **out, fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr__cascade_parse: out is NULL");
  *out = NULL;
  if (!bytes && size) return fr__fail(err, FR_E_INVALID, "fr__cascade_parse: bytes is NULL");
  if (size > FR__CASCADE_MAX_BYTES)
    return fr__fail(err, FR_E_LIMIT, "cascade: %zu bytes (limit %u)", size, FR__CASCADE_MAX_BYTES);
  xdoc d = {bytes, size, NULL, 0, -1};
  fr__cascade *c = NULL;
  fr_status st = xml_parse(&d, err);
  if (st != FR_OK) goto done;
  if (!name_is(&d, d.root, "opencv_storage")) {
    st = fr__fail(err, FR_E_FORMAT, "cascade: the root element is not <opencv_storage>");
    goto done;
  }
  int cas = child(&d, d.root, "cascade");
  if (cas < 0) {
    /* The old format (opencv-haar-classifier) names the element after the
     * file and keeps trees under stages; OpenCV converts it when loading. */
    int first = d.nodes[d.root].child;
    if (first >= 0 && child(&d, first, "stages") >= 0 && child(&d, first, "size") >= 0)
      st = fr__fail(err, FR_E_UNSUPPORTED, "cascade: old-format (pre-OpenCV 2.4) cascade; convert it with OpenCV");
    else
      st = fr__fail(err, FR_E_FORMAT, "cascade: no <cascade> element");
    goto done;
  }
  int stype = child(&d, cas, "stageType"), ftype = child(&d, cas, "featureType");
  if (!text_is(&d, stype, "BOOST")) {
    st = fr__fail(err, FR_E_UNSUPPORTED, "cascade: stageType is not BOOST");
    goto done;
  }
  c = fr__calloc(1, sizeof *c);
  if (!c) {
    st = fr__fail(err, FR_E_NOMEM, "out of memory for a cascade");
    goto done;
  }
  if (text_is(&d, ftype, "HAAR")) c->type = FR__CASCADE_HAAR;
  else if (text_is(&d, ftype, "LBP")) c->type = FR__CASCADE_LBP;
  else {
    st = fr__fail(err, FR_E_UNSUPPORTED, "cascade: featureType is not HAAR or LBP (HOG is not supported)");
    goto done;
  }
  /* At least 3x3: Haar's variance window is the training window less a
   * 1-pixel border, and an LBP feature is a 3x3 grid of blocks. */
  st = int_field(&d, cas, "width", 3, FR__CASCADE_MAX_WINDOW, &c->width, err);
  if (st == FR_OK) st = int_field(&d, cas, "height", 3, FR__CASCADE_MAX_WINDOW, &c->height, err);
  if (st != FR_OK) goto done;
  if (c->type == FR__CASCADE_LBP) {
    int fp = child(&d, cas, "featureParams"), cats;
    st = int_field(&d, fp, "maxCatCount", 0, 1 << 20, &cats, err);
    if (st != FR_OK) goto done;
    if (cats != 256) {
      st = fr__fail(err, FR_E_UNSUPPORTED, "cascade: LBP maxCatCount %d (only 256 is used)", cats);
      goto done;
    }
  }
  int feats = child(&d, cas, "features"), stages = child(&d, cas, "stages");
  if (feats < 0 || stages < 0) {
    st = fr__fail(err, FR_E_FORMAT, "cascade: <features> or <stages> missing");
    goto done;
  }
  st = read_features(&d, feats, c, err);
  if (st == FR_OK) st = read_stages(&d, stages, c, err);
  if (st != FR_OK) goto done;
  if (child(&d, cas, "stageNum") >= 0) {
    int n;
    st = int_field(&d, cas, "stageNum", 0, MAX_STAGES, &n, err);
    if (st == FR_OK && n != c->n_stages)
      st = fr__fail(err, FR_E_FORMAT, "cascade: stageNum %d but %d stages", n, c->n_stages);
    if (st != FR_OK) goto done;
  }
done:
  fr__free(d.nodes);
  if (st != FR_OK) {
    fr__cascade_free(c);
    return st;
  }
  *out = c;
  return FR_OK;
}

fr_status fr__cascade_load(const char *path, fr__cascade **out, fr_error *err) {
  if (!out) return fr__fail(err, FR_E_INVALID, "fr__cascade_load: out is NULL");
  *out = NULL;
  uint8_t *buf = NULL;
  size_t n = 0;
  fr_status st = fr__read_file(path, FR__CASCADE_MAX_BYTES, &buf, &n, err);
  if (st == FR_OK) {
    st = fr__cascade_parse((const char *)buf, n, out, err);
    if (st != FR_OK) fr__error_prefix(err, "%s", path);
  }
  fr__free(buf);
  return st;
}

/*
 * test_server_parse.c - the hardened request parsers of src/server/parse.c,
 * called directly (no server, no sockets): person names and their NFC form,
 * strict JSON subject bodies, request path decoding and route names, the API
 * key file's mode, --bind addresses, and the Host and Origin checks against
 * DNS rebinding and cross-site requests. Each rule has accepting and refusing
 * cases. (tests/test_server.c covers the older parsers and the live server.)
 */
#define _GNU_SOURCE
#include "check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include "facerec.h"
#include "server/parse.h"

/* ---- names ------------------------------------------------------------------------------ */

/* The status fr__srv_name_normalize gives a C string. */
static fr_status norm(const char *s, char out[FR_NAME_MAX]) {
  fr_error err = {0, ""};
  fr_status st = fr__srv_name_normalize(s, strlen(s), out, &err);
  if (st != FR_OK && (err.status != st || !err.message[0]))
    fprintf(stderr, "  (no matching message for %d)\n", st);
  return st;
}

#define NAME_OK(in, want)                                                                      \
  do {                                                                                         \
    char o_[FR_NAME_MAX];                                                                      \
    fr_status s_ = norm(in, o_);                                                               \
    CHECK_MSG(s_ == FR_OK && strcmp(o_, want) == 0, "name %s: status %d, out \"%s\"", #in, s_, \
              o_);                                                                             \
  } while (0)

#define NAME_BAD(in, want_st)                                                                  \
  do {                                                                                         \
    char o_[FR_NAME_MAX];                                                                      \
    fr_status s_ = norm(in, o_);                                                               \
    CHECK_MSG(s_ == (want_st) && o_[0] == '\0', "name %s: status %d, want %d", #in, s_,         \
              want_st);                                                                        \
    CHECK_MSG(!fr__srv_valid_name(in, strlen(in)), "valid_name accepts %s", #in);              \
  } while (0)

static void test_names(void) {
  /* Accepted, and unchanged when already NFC. */
  NAME_OK("Penny", "Penny");
  NAME_OK("Zo\xC3\xAB O'Brien", "Zo\xC3\xAB O'Brien");
  NAME_OK("a.b", "a.b");
  NAME_OK("...", "...");
  NAME_OK(".x", ".x");
  NAME_OK("a b", "a b");
  NAME_OK("\xE5\xBC\xA0\xE4\xBC\x9F", "\xE5\xBC\xA0\xE4\xBC\x9F");          /* 张伟 */
  NAME_OK("\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80");                          /* U+1F600 */
  NAME_OK("\xD8\xB9\xD9\x84\xD9\x8A", "\xD8\xB9\xD9\x84\xD9\x8A");          /* Arabic, RTL */
  NAME_OK("a+b", "a+b");
  /* NFD input comes out NFC: e + U+0301 is U+00E9. */
  NAME_OK("Jos" "e\xCC\x81", "Jos\xC3\xA9");
  NAME_OK("e\xCC\x81", "\xC3\xA9");
  /* Hangul jamo L V T compose to one syllable (9 bytes to 3). */
  NAME_OK("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", "\xEA\xB0\x81");
  /* Singletons: U+212B ANGSTROM SIGN is U+00C5, U+212A KELVIN SIGN is K. */
  NAME_OK("\xE2\x84\xAB", "\xC3\x85");
  NAME_OK("\xE2\x84\xAA", "K");
  CHECK(fr__srv_valid_name("Penny", 5));
  CHECK(fr__srv_valid_name("Jos\xC3\xA9", 5));
  CHECK(!fr__srv_valid_name("Jose\xCC\x81", 6)); /* valid, but not NFC */
  CHECK(!fr__srv_valid_name("\xE2\x84\xAB", 3));

  /* Empty, and invalid UTF-8 (FR_E_FORMAT). */
  NAME_BAD("", FR_E_INVALID);
  NAME_BAD("\xC3", FR_E_FORMAT);                 /* truncated */
  NAME_BAD("a\x80" "b", FR_E_FORMAT);            /* stray continuation byte */
  NAME_BAD("\xC0\xAF", FR_E_FORMAT);             /* overlong '/' */
  NAME_BAD("\xE0\x80\xAF", FR_E_FORMAT);         /* overlong, 3 bytes */
  NAME_BAD("\xF0\x80\x80\xAF", FR_E_FORMAT);     /* overlong, 4 bytes */
  NAME_BAD("\xED\xA0\x80", FR_E_FORMAT);         /* U+D800 */
  NAME_BAD("\xED\xBF\xBF", FR_E_FORMAT);         /* U+DFFF */
  NAME_BAD("\xF4\x90\x80\x80", FR_E_FORMAT);     /* U+110000 */
  NAME_BAD("\xF5\x80\x80\x80", FR_E_FORMAT);
  NAME_BAD("\xFF", FR_E_FORMAT);
  /* Dots, controls, slashes, spaces. */
  NAME_BAD(".", FR_E_INVALID);
  NAME_BAD("..", FR_E_INVALID);
  NAME_BAD("a\tb", FR_E_INVALID);
  NAME_BAD("a\nb", FR_E_INVALID);
  NAME_BAD("a\rb", FR_E_INVALID);
  NAME_BAD("a\x1b[31mb", FR_E_INVALID);
  NAME_BAD("a\x7F", FR_E_INVALID);
  NAME_BAD("a\xC2\x80", FR_E_INVALID);           /* U+0080 (C1) */
  NAME_BAD("a\xC2\x85", FR_E_INVALID);           /* U+0085 NEL */
  NAME_BAD("a\xC2\x9F", FR_E_INVALID);           /* U+009F */
  NAME_BAD("a/b", FR_E_INVALID);
  NAME_BAD("a\\b", FR_E_INVALID);
  NAME_BAD("../etc", FR_E_INVALID);
  NAME_BAD(" a", FR_E_INVALID);
  NAME_BAD("a ", FR_E_INVALID);
  NAME_BAD(" ", FR_E_INVALID);
  {
    char o[FR_NAME_MAX];
    fr_error err = {0, ""};
    CHECK(fr__srv_name_normalize("a\0b", 3, o, &err) == FR_E_INVALID); /* NUL inside n */
    CHECK(fr__srv_name_normalize("Bob", 4, o, &err) == FR_E_INVALID);  /* the NUL after it */
    CHECK(!fr__srv_valid_name("a\0b", 3));
  }
  /* Bidirectional controls. */
  NAME_BAD("a\xD8\x9C" "b", FR_E_INVALID);       /* U+061C */
  NAME_BAD("a\xE2\x80\x8E", FR_E_INVALID);       /* U+200E */
  NAME_BAD("a\xE2\x80\x8F", FR_E_INVALID);       /* U+200F */
  NAME_BAD("\xE2\x80\xAA" "a", FR_E_INVALID);    /* U+202A */
  NAME_BAD("a\xE2\x80\xAEgpj.exe", FR_E_INVALID); /* U+202E RLO */
  NAME_BAD("a\xE2\x81\xA6", FR_E_INVALID);       /* U+2066 */
  NAME_BAD("a\xE2\x81\xA9", FR_E_INVALID);       /* U+2069 */
  /* Zero-width and invisible. */
  NAME_BAD("Pe\xE2\x80\x8Bnny", FR_E_INVALID);   /* U+200B */
  NAME_BAD("a\xE2\x80\x8C" "b", FR_E_INVALID);   /* U+200C */
  NAME_BAD("a\xE2\x80\x8D" "b", FR_E_INVALID);   /* U+200D */
  NAME_BAD("a\xE2\x81\xA0" "b", FR_E_INVALID);   /* U+2060 */
  NAME_BAD("a\xE2\x81\xA4" "b", FR_E_INVALID);   /* U+2064 */
  NAME_BAD("\xEF\xBB\xBF" "Penny", FR_E_INVALID); /* U+FEFF */
  NAME_BAD("Pe\xC2\xADnny", FR_E_INVALID);       /* U+00AD soft hyphen */
  NAME_OK("a\xE2\x80\x8A" "b", "a\xE2\x80\x8A" "b"); /* U+200A HAIR SPACE is visible space */
  /* Noncharacters. */
  NAME_BAD("a\xEF\xB7\x90", FR_E_INVALID);       /* U+FDD0 */
  NAME_BAD("a\xEF\xB7\xAF", FR_E_INVALID);       /* U+FDEF */
  NAME_BAD("a\xEF\xBF\xBE", FR_E_INVALID);       /* U+FFFE */
  NAME_BAD("a\xEF\xBF\xBF", FR_E_INVALID);       /* U+FFFF */
  NAME_BAD("a\xF0\x9F\xBF\xBE", FR_E_INVALID);   /* U+1FFFE */
  NAME_BAD("a\xF4\x8F\xBF\xBF", FR_E_INVALID);   /* U+10FFFF */
  NAME_OK("a\xEF\xB7\xB0", "a\xEF\xB7\xB0");     /* U+FDF0 is a character */

  /* Lengths: FR_NAME_MAX - 1 bytes of NFC fit, FR_NAME_MAX do not. */
  char big[3 * FR_SRV_MAX_NAME_INPUT + 8], o[FR_NAME_MAX];
  fr_error err = {0, ""};
  memset(big, 'a', sizeof big);
  CHECK(fr__srv_name_normalize(big, FR_NAME_MAX - 1, o, &err) == FR_OK &&
        strlen(o) == FR_NAME_MAX - 1);
  CHECK(fr__srv_valid_name(big, FR_NAME_MAX - 1));
  CHECK(fr__srv_name_normalize(big, FR_NAME_MAX, o, &err) == FR_E_LIMIT && o[0] == '\0');
  CHECK(!fr__srv_valid_name(big, FR_NAME_MAX));
  CHECK(fr__srv_name_normalize(big, FR_SRV_MAX_NAME_INPUT + 1, o, &err) == FR_E_LIMIT);
  CHECK(fr__srv_name_normalize(big, sizeof big, o, &err) == FR_E_LIMIT);
  /* 63 x "e" U+0301 is 189 bytes in, 126 bytes of U+00E9 out: accepted. */
  size_t k = 0;
  for (int i = 0; i < 63; i++) big[k++] = 'e', big[k++] = '\xCC', big[k++] = '\x81';
  CHECK_MSG(fr__srv_name_normalize(big, k, o, &err) == FR_OK && strlen(o) == 126, "%s",
            err.message);
  for (int i = 0; i < 63; i++) CHECK(memcmp(o + 2 * i, "\xC3\xA9", 2) == 0);
  /* 64 of them are 128 bytes in NFC: too long. */
  big[k++] = 'e', big[k++] = '\xCC', big[k++] = '\x81';
  CHECK(fr__srv_name_normalize(big, k, o, &err) == FR_E_LIMIT);
  /* Hangul: 42 L V T triples (378 bytes) compose to 126 bytes. */
  k = 0;
  for (int i = 0; i < 42; i++) memcpy(big + k, "\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", 9), k += 9;
  CHECK_MSG(fr__srv_name_normalize(big, k, o, &err) == FR_OK && strlen(o) == 126, "%s",
            err.message);
  /* U+1D160 (4 bytes) decomposes to 12 bytes: 11 of them are 132 bytes. */
  k = 0;
  for (int i = 0; i < 11; i++) memcpy(big + k, "\xF0\x9D\x85\xA0", 4), k += 4;
  CHECK(fr__srv_name_normalize(big, k, o, &err) == FR_E_LIMIT);
  CHECK(fr__srv_name_normalize(big, 4, o, &err) == FR_OK && strlen(o) == 12);
  /* The error message is one a client can read. */
  CHECK(fr__srv_name_normalize("a/b", 3, o, &err) == FR_E_INVALID && err.status == FR_E_INVALID &&
        strstr(err.message, "slash"));
  CHECK(fr__srv_name_normalize("a\xE2\x80\xAE", 4, o, &err) == FR_E_INVALID &&
        strstr(err.message, "U+202E"));
}

/* ---- JSON bodies ------------------------------------------------------------------------ */

static fr_status subject(const char *body, char name[FR_NAME_MAX], char *meta, int *has_meta,
                         fr_error *err) {
  return fr__srv_subject_json(body, strlen(body), name, meta, FR_SRV_MAX_META + 1, has_meta, err);
}

#define JSON_BAD(body, want_st, what)                                                          \
  do {                                                                                         \
    char n_[FR_NAME_MAX], m_[FR_SRV_MAX_META + 1];                                             \
    int h_ = 0;                                                                                \
    fr_error e_ = {0, ""};                                                                     \
    fr_status s_ = subject(body, n_, m_, &h_, &e_);                                            \
    CHECK_MSG(s_ == (want_st) && e_.status == s_ && strstr(e_.message, what) && !n_[0] &&      \
                  !h_,                                                                         \
              "%s: status %d (%s), want %d with \"%s\"", #body, s_, e_.message, want_st, what); \
  } while (0)

static void test_json(void) {
  char name[FR_NAME_MAX], meta[FR_SRV_MAX_META + 1];
  int has_meta;
  fr_error err = {0, ""};
  CHECK_OK(subject("{\"name\":\"Penny\",\"metadata\":\"across the hall\"}", name, meta, &has_meta,
                   &err),
           &err);
  CHECK(strcmp(name, "Penny") == 0 && strcmp(meta, "across the hall") == 0 && has_meta);
  CHECK_OK(subject(" \t\r\n{ \"name\" : \"Amy\" } \r\n\t ", name, meta, &has_meta, &err), &err);
  CHECK(strcmp(name, "Amy") == 0 && !has_meta && meta[0] == '\0');
  CHECK_OK(subject("{\"name\":\"Amy\",\"metadata\":null}", name, meta, &has_meta, &err), &err);
  CHECK(!has_meta);
  /* Other members are ignored, whatever they hold (within the depth). */
  CHECK_OK(subject("{\"x\":[1,-2.5e+3,true,false,null,{\"y\":[]},{}],\"name\":\"Raj\",\"z\":0}",
                   name, meta, &has_meta, &err),
           &err);
  CHECK(strcmp(name, "Raj") == 0);
  /* Escapes, and the name comes out NFC: e + U+0301 is U+00E9. */
  CHECK_OK(subject("{\"name\":\"Jos\\u0065\\u0301\",\"metadata\":\"a\\nb\\t\\\"q\\\" \\/ \\\\\"}",
                   name, meta, &has_meta, &err),
           &err);
  CHECK(strcmp(name, "Jos\xC3\xA9") == 0 && strcmp(meta, "a\nb\t\"q\" / \\") == 0);
  CHECK_OK(subject("{\"name\":\"e\xCC\x81\"}", name, meta, &has_meta, &err), &err);
  CHECK(strcmp(name, "\xC3\xA9") == 0);
  CHECK_OK(subject("{\"name\":\"\\ud83d\\ude00\"}", name, meta, &has_meta, &err), &err);
  CHECK(strcmp(name, "\xF0\x9F\x98\x80") == 0);

  /* Depth: 32 levels pass the scan, 33 do not, and 1,000 never reach cJSON. */
  char deep[4096];
  size_t k = 0;
  k += (size_t)sprintf(deep, "{\"name\":\"Deep\",\"x\":");
  for (int i = 0; i < FR_SRV_MAX_JSON_DEPTH - 1; i++) deep[k++] = '[';
  for (int i = 0; i < FR_SRV_MAX_JSON_DEPTH - 1; i++) deep[k++] = ']';
  deep[k++] = '}';
  deep[k] = '\0';
  CHECK_OK(subject(deep, name, meta, &has_meta, &err), &err);
  k = (size_t)sprintf(deep, "{\"name\":\"Deep\",\"x\":");
  for (int i = 0; i < FR_SRV_MAX_JSON_DEPTH; i++) deep[k++] = '[';
  for (int i = 0; i < FR_SRV_MAX_JSON_DEPTH; i++) deep[k++] = ']';
  deep[k++] = '}';
  deep[k] = '\0';
  JSON_BAD(deep, FR_E_FORMAT, "nested deeper than 32");
  memset(deep, '[', 1000);
  deep[1000] = '\0';
  JSON_BAD(deep, FR_E_FORMAT, "nested deeper than 32");
  memset(deep, '{', 1000);
  JSON_BAD(deep, FR_E_FORMAT, "member name"); /* '{' cannot open an object member */
  k = 0;
  for (int i = 0; i < 600; i++) memcpy(deep + k, "{\"a\":", 5), k += 5;
  deep[k] = '\0';
  JSON_BAD(deep, FR_E_FORMAT, "nested deeper than 32");
  /* A whole 1,000-deep array, well-formed otherwise: the scan refuses it even
   * though cJSON (limit 1000) would build it. */
  char *arr = malloc(2001);
  memset(arr, '[', 1000);
  memset(arr + 1000, ']', 1000);
  arr[2000] = '\0';
  JSON_BAD(arr, FR_E_FORMAT, "nested deeper");
  free(arr);

  /* \u0000, lone surrogates, raw controls, bad escapes. */
  JSON_BAD("{\"name\":\"Bob\\u0000x\"}", FR_E_FORMAT, "\\u0000");
  JSON_BAD("{\"name\":\"Bob\",\"metadata\":\"\\u0000\"}", FR_E_FORMAT, "\\u0000");
  JSON_BAD("{\"na\\u0000me\":\"Bob\"}", FR_E_FORMAT, "\\u0000");
  JSON_BAD("{\"name\":\"Bob\",\"x\":[\"\\u0000\"]}", FR_E_FORMAT, "\\u0000");
  JSON_BAD("{\"name\":\"\\ud800\"}", FR_E_FORMAT, "surrogate");
  JSON_BAD("{\"name\":\"\\udc00x\"}", FR_E_FORMAT, "surrogate");
  JSON_BAD("{\"name\":\"\\ud800\\u0041\"}", FR_E_FORMAT, "surrogate");
  JSON_BAD("{\"name\":\"\\u12\"}", FR_E_FORMAT, "\\u escape");
  JSON_BAD("{\"name\":\"\\x41\"}", FR_E_FORMAT, "escape");
  JSON_BAD("{\"name\":\"a\tb\"}", FR_E_FORMAT, "control character");
  JSON_BAD("{\"name\":\"a\nb\"}", FR_E_FORMAT, "control character");
  /* The name rules apply to the decoded string. */
  JSON_BAD("{\"name\":\"a\\tb\"}", FR_E_INVALID, "control");
  JSON_BAD("{\"name\":\"\\u202eabc\"}", FR_E_INVALID, "bidirectional");
  JSON_BAD("{\"name\":\"..\"}", FR_E_INVALID, "\"..\"");
  JSON_BAD("{\"name\":\"\\u002e\"}", FR_E_INVALID, "\".\"");
  JSON_BAD("{\"name\":\"a\\/b\"}", FR_E_INVALID, "slash");
  JSON_BAD("{\"name\":\"\"}", FR_E_INVALID, "empty");
  /* Invalid UTF-8 anywhere. */
  JSON_BAD("{\"name\":\"Zo\xEB\"}", FR_E_FORMAT, "UTF-8");
  JSON_BAD("{\"name\":\"Bob\",\"metadata\":\"\xC0\xAF\"}", FR_E_FORMAT, "UTF-8");
  JSON_BAD("{\"name\":\"Bob\",\"x\":\"\xED\xA0\x80\"}", FR_E_FORMAT, "UTF-8");
  JSON_BAD("{\"name\":\"Bob\"}\xFF", FR_E_FORMAT, "UTF-8");
  JSON_BAD("\xEF\xBB\xBF{\"name\":\"Bob\"}", FR_E_FORMAT, "not valid JSON"); /* BOM */
  /* Trailing data. */
  JSON_BAD("{\"name\":\"Bob\"}x", FR_E_FORMAT, "trailing data");
  JSON_BAD("{\"name\":\"Bob\"}{}", FR_E_FORMAT, "trailing data");
  JSON_BAD("{\"name\":\"Bob\"} ,", FR_E_FORMAT, "trailing data");
  JSON_BAD("{\"name\":\"Bob\"}}", FR_E_FORMAT, "trailing data");
  {
    const char b[] = "{\"name\":\"Bob\"}\0junk";
    char n[FR_NAME_MAX], m[FR_SRV_MAX_META + 1];
    int h;
    CHECK(fr__srv_subject_json(b, sizeof b - 1, n, m, sizeof m, &h, &err) == FR_E_FORMAT &&
          strstr(err.message, "trailing data"));
    CHECK_OK(fr__srv_subject_json(b, 14, n, m, sizeof m, &h, &err), &err);
  }
  /* Malformed JSON. */
  JSON_BAD("", FR_E_FORMAT, "empty");
  JSON_BAD("   ", FR_E_FORMAT, "ends early");
  JSON_BAD("{\"name\":", FR_E_FORMAT, "ends early");
  JSON_BAD("{\"name\":\"Bob", FR_E_FORMAT, "inside a string");
  JSON_BAD("{\"name\":\"Bob\",}", FR_E_FORMAT, "member name");
  JSON_BAD("{name:\"Bob\"}", FR_E_FORMAT, "member name");
  JSON_BAD("{\"name\" \"Bob\"}", FR_E_FORMAT, "':'");
  JSON_BAD("{'name':'Bob'}", FR_E_FORMAT, "member name");
  JSON_BAD("{\"name\":\"Bob\",\"x\":[1,]}", FR_E_FORMAT, "not valid JSON");
  JSON_BAD("{\"name\":\"Bob\",\"x\":01}", FR_E_FORMAT, "expected ','");
  JSON_BAD("{\"name\":\"Bob\",\"x\":+1}", FR_E_FORMAT, "not valid JSON");
  JSON_BAD("{\"name\":\"Bob\",\"x\":1.}", FR_E_FORMAT, "number");
  JSON_BAD("{\"name\":\"Bob\",\"x\":.5}", FR_E_FORMAT, "not valid JSON");
  JSON_BAD("{\"name\":\"Bob\",\"x\":1e}", FR_E_FORMAT, "number");
  JSON_BAD("{\"name\":\"Bob\",\"x\":-}", FR_E_FORMAT, "number");
  JSON_BAD("{\"name\":\"Bob\",\"x\":tru}", FR_E_FORMAT, "not valid JSON");
  JSON_BAD("{\"name\":\"Bob\",\"x\":NaN}", FR_E_FORMAT, "not valid JSON");
  JSON_BAD("{\"name\":\"Bob\",\"x\":[1 2]}", FR_E_FORMAT, "expected ','");
  JSON_BAD("{\"name\":\"Bob\"]", FR_E_FORMAT, "expected ','");
  JSON_BAD("{\"name\":\"Bob\",\"x\":[}", FR_E_FORMAT, "not valid JSON");
  JSON_BAD("/*c*/{\"name\":\"Bob\"}", FR_E_FORMAT, "not valid JSON");
  /* Valid JSON, wrong shape. */
  JSON_BAD("[1]", FR_E_INVALID, "object");
  JSON_BAD("\"Bob\"", FR_E_INVALID, "object");
  JSON_BAD("null", FR_E_INVALID, "object");
  JSON_BAD("{}", FR_E_INVALID, "\"name\"");
  JSON_BAD("{\"name\":3}", FR_E_INVALID, "\"name\"");
  JSON_BAD("{\"name\":null}", FR_E_INVALID, "\"name\"");
  JSON_BAD("{\"Name\":\"Bob\"}", FR_E_INVALID, "\"name\"");
  JSON_BAD("{\"name\":[\"Bob\"]}", FR_E_INVALID, "\"name\"");
  JSON_BAD("{\"name\":\"Bob\",\"metadata\":3}", FR_E_INVALID, "metadata");
  JSON_BAD("{\"name\":\"Bob\",\"metadata\":{}}", FR_E_INVALID, "metadata");
  /* Duplicates, also when spelled with escapes. */
  JSON_BAD("{\"name\":\"Bob\",\"name\":\"Eve\"}", FR_E_INVALID, "twice");
  JSON_BAD("{\"name\":\"Bob\",\"na\\u006de\":\"Eve\"}", FR_E_INVALID, "twice");
  JSON_BAD("{\"name\":\"Bob\",\"metadata\":\"a\",\"metadata\":\"b\"}", FR_E_INVALID, "twice");
  JSON_BAD("{\"metadata\":null,\"name\":\"Bob\",\"metadata\":\"b\"}", FR_E_INVALID, "twice");
  JSON_BAD("{\"name\":3,\"name\":\"Bob\"}", FR_E_INVALID, "twice");
  CHECK_OK(subject("{\"name\":\"Bob\",\"x\":1,\"x\":2}", name, meta, &has_meta, &err), &err);
  CHECK_OK(subject("{\"name\":\"Bob\",\"x\":{\"name\":\"Eve\"}}", name, meta, &has_meta, &err),
           &err);
  CHECK(strcmp(name, "Bob") == 0);

  /* Sizes: metadata of FR_SRV_MAX_META bytes fits, one more does not; the
   * body limit; a name over FR_NAME_MAX - 1 bytes. */
  char *body = malloc(FR_SRV_MAX_JSON + 64);
  k = (size_t)sprintf(body, "{\"name\":\"Bob\",\"metadata\":\"");
  memset(body + k, 'm', FR_SRV_MAX_META);
  strcpy(body + k + FR_SRV_MAX_META, "\"}");
  CHECK_OK(subject(body, name, meta, &has_meta, &err), &err);
  CHECK(strlen(meta) == FR_SRV_MAX_META && has_meta);
  memset(body + k, 'm', FR_SRV_MAX_META + 1);
  strcpy(body + k + FR_SRV_MAX_META + 1, "\"}");
  JSON_BAD(body, FR_E_LIMIT, "metadata");
  k = (size_t)sprintf(body, "{\"name\":\"");
  memset(body + k, 'n', FR_NAME_MAX);
  strcpy(body + k + FR_NAME_MAX, "\"}");
  JSON_BAD(body, FR_E_LIMIT, "at most");
  memset(body, ' ', FR_SRV_MAX_JSON + 1);
  memcpy(body, "{\"name\":\"Bob\"}", 14);
  body[FR_SRV_MAX_JSON + 1] = '\0';
  JSON_BAD(body, FR_E_LIMIT, "larger than");
  body[FR_SRV_MAX_JSON] = '\0';
  CHECK_OK(subject(body, name, meta, &has_meta, &err), &err);
  free(body);
}

/* ---- paths and routes ------------------------------------------------------------------- */

static fr_status decode(const char *raw, char *out, size_t size) {
  fr_error err = {0, ""};
  fr_status st = fr__srv_path_decode(raw, strlen(raw), out, size, &err);
  if (st != FR_OK && (err.status != st || !err.message[0])) fprintf(stderr, "  (no message)\n");
  return st;
}

static void test_paths(void) {
  char out[256];
  CHECK(decode("/api/v1/subjects/Penny", out, sizeof out) == FR_OK &&
        strcmp(out, "/api/v1/subjects/Penny") == 0);
  CHECK(decode("/a%20b+c", out, sizeof out) == FR_OK && strcmp(out, "/a b+c") == 0);
  CHECK(decode("/Zo%C3%ab", out, sizeof out) == FR_OK && strcmp(out, "/Zo\xC3\xAB") == 0);
  CHECK(decode("/%2e%2E/%2F", out, sizeof out) == FR_OK && strcmp(out, "/..//") == 0);
  CHECK(decode("%7E%41", out, sizeof out) == FR_OK && strcmp(out, "~A") == 0);
  CHECK(decode("", out, sizeof out) == FR_OK && out[0] == '\0');
  CHECK(decode("/caf\xC3\xA9", out, sizeof out) == FR_OK && strcmp(out, "/caf\xC3\xA9") == 0);
  CHECK(decode("/%FF", out, sizeof out) == FR_OK && (unsigned char)out[1] == 0xFF);
  /* Bad escapes. */
  CHECK(decode("/a%", out, sizeof out) == FR_E_FORMAT && out[0] == '\0');
  CHECK(decode("/a%4", out, sizeof out) == FR_E_FORMAT);
  CHECK(decode("/a%4g", out, sizeof out) == FR_E_FORMAT);
  CHECK(decode("/a%%41", out, sizeof out) == FR_E_FORMAT);
  CHECK(decode("/a%u0041", out, sizeof out) == FR_E_FORMAT);
  CHECK(decode("/a%+1", out, sizeof out) == FR_E_FORMAT);
  /* Control bytes, escaped or raw. */
  CHECK(decode("/api/v1/subjects/Bob%00/faces", out, sizeof out) == FR_E_FORMAT);
  CHECK(decode("/a%01", out, sizeof out) == FR_E_FORMAT);
  CHECK(decode("/a%0a", out, sizeof out) == FR_E_FORMAT);
  CHECK(decode("/a%0D%0A", out, sizeof out) == FR_E_FORMAT);
  CHECK(decode("/a%1F", out, sizeof out) == FR_E_FORMAT);
  CHECK(decode("/a%7f", out, sizeof out) == FR_E_FORMAT);
  CHECK(decode("/a%20", out, sizeof out) == FR_OK);
  CHECK(decode("/a\tb", out, sizeof out) == FR_E_FORMAT);
  CHECK(decode("/a\x7F", out, sizeof out) == FR_E_FORMAT);
  {
    fr_error err = {0, ""};
    CHECK(fr__srv_path_decode("/a\0b", 4, out, sizeof out, &err) == FR_E_FORMAT);
    CHECK(fr__srv_path_decode("/abc", 2, out, sizeof out, &err) == FR_OK && strcmp(out, "/a") == 0);
    CHECK(fr__srv_path_decode("/a", 2, out, 0, &err) == FR_E_LIMIT);
  }
  /* Sizes: size - 1 bytes fit. */
  CHECK(decode("/abc", out, 5) == FR_OK && strcmp(out, "/abc") == 0);
  CHECK(decode("/abcd", out, 5) == FR_E_LIMIT);
  CHECK(decode("/%41%42%43", out, 5) == FR_OK && strcmp(out, "/ABC") == 0);
  CHECK(decode("/%41%42%43%44", out, 5) == FR_E_LIMIT);
  CHECK(decode("", out, 1) == FR_OK);

  /* Routes over decoded paths: names come out NFC, dot names are refused. */
  fr__srv_route r;
  fr_error err = {0, ""};
  CHECK(decode("/api/v1/subjects/Jos%65%CC%81/faces", out, sizeof out) == FR_OK);
  CHECK_OK(fr__srv_route_parse("GET", out, &r, &err), &err);
  CHECK(r.id == FR_ROUTE_SUBJECT_FACES && strcmp(r.name, "Jos\xC3\xA9") == 0);
  CHECK_OK(fr__srv_route_parse("DELETE", "/api/v1/subjects/\xE2\x84\xAB", &r, &err), &err);
  CHECK(r.id == FR_ROUTE_SUBJECT && strcmp(r.name, "\xC3\x85") == 0 && r.admin);
  CHECK_OK(fr__srv_route_parse("DELETE", "/api/v1/subjects/Penny", &r, &err), &err);
  CHECK(strcmp(r.name, "Penny") == 0);
  CHECK_OK(fr__srv_route_parse("POST", "/api/v1/subjects/a.b/faces", &r, &err), &err);
  CHECK(r.admin && strcmp(r.name, "a.b") == 0);
  CHECK(fr__srv_route_parse("GET", "/api/v1/subjects/./faces", &r, &err) == FR_E_INVALID &&
        strstr(err.message, "bad subject name"));
  CHECK(fr__srv_route_parse("POST", "/api/v1/subjects/../faces", &r, &err) == FR_E_INVALID);
  CHECK(fr__srv_route_parse("DELETE", "/api/v1/subjects/..", &r, &err) == FR_E_INVALID);
  CHECK(fr__srv_route_parse("DELETE", "/api/v1/subjects/.", &r, &err) == FR_E_INVALID);
  CHECK(decode("/api/v1/subjects/%2E%2e/faces", out, sizeof out) == FR_OK);
  CHECK(fr__srv_route_parse("GET", out, &r, &err) == FR_E_INVALID);
  CHECK(fr__srv_route_parse("DELETE", "/api/v1/subjects/", &r, &err) == FR_E_INVALID);
  CHECK(fr__srv_route_parse("GET", "/api/v1/subjects//faces", &r, &err) == FR_E_INVALID);
  CHECK(fr__srv_route_parse("DELETE", "/api/v1/subjects/a\xE2\x80\xAE" "b", &r, &err) ==
        FR_E_INVALID);
  CHECK(fr__srv_route_parse("DELETE", "/api/v1/subjects/a\xE2\x80\x8B" "b", &r, &err) ==
        FR_E_INVALID);
  CHECK(fr__srv_route_parse("DELETE", "/api/v1/subjects/%20Bob", &r, &err) == FR_OK); /* raw */
  CHECK(fr__srv_route_parse("DELETE", "/api/v1/subjects/ Bob", &r, &err) == FR_E_INVALID);
  CHECK(fr__srv_route_parse("DELETE", "/api/v1/subjects/Zo\xEB", &r, &err) == FR_E_INVALID);
  CHECK(fr__srv_route_parse("DELETE", "/api/v1/subjects/a\\b", &r, &err) == FR_E_INVALID);
  CHECK(fr__srv_route_parse("GET", "/api/v1/subjects/a/b/faces", &r, &err) == FR_E_NOTFOUND);
  CHECK(fr__srv_route_parse("GET", "/api/v1/subjects/../health", &r, &err) == FR_E_NOTFOUND);
  CHECK(fr__srv_route_parse("GET", "/api/v1/./health", &r, &err) == FR_E_NOTFOUND);
  CHECK(fr__srv_route_parse("GET", "/api/v1/health", &r, &err) == FR_OK);
}

/* ---- the key file ----------------------------------------------------------------------- */

static void test_key_file(void) {
  char dir[] = "/tmp/test_server_parse.XXXXXX";
  if (!mkdtemp(dir)) {
    CHECK_MSG(0, "mkdtemp failed");
    return;
  }
  char path[128], sub[128];
  snprintf(path, sizeof path, "%s/keys", dir);
  snprintf(sub, sizeof sub, "%s/sub", dir);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (f) fclose(f);
  fr_error err = {0, ""};
  CHECK(chmod(path, 0600) == 0);
  CHECK_OK(fr__srv_key_file_check(path, &err), &err);
  CHECK(chmod(path, 0400) == 0);
  CHECK_OK(fr__srv_key_file_check(path, &err), &err);
  CHECK(chmod(path, 0700) == 0);
  CHECK_OK(fr__srv_key_file_check(path, &err), &err);
  static const unsigned bad[] = {0640, 0604, 0644, 0660, 0606, 0610, 0601, 0666, 0777, 0620};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK(chmod(path, bad[i]) == 0);
    fr_status st = fr__srv_key_file_check(path, &err);
    char mode[16];
    snprintf(mode, sizeof mode, "%04o", bad[i]);
    CHECK_MSG(st == FR_E_INVALID && err.status == st && strstr(err.message, path) &&
                  strstr(err.message, mode) && strstr(err.message, "chmod 600"),
              "mode %o: %d %s", bad[i], st, err.message);
  }
  /* A symbolic link to a 0600 file is that file. */
  char link[128];
  snprintf(link, sizeof link, "%s/link", dir);
  CHECK(chmod(path, 0600) == 0 && symlink(path, link) == 0);
  CHECK_OK(fr__srv_key_file_check(link, &err), &err);
  /* Missing, a directory. */
  CHECK(fr__srv_key_file_check(sub, &err) == FR_E_INVALID && strstr(err.message, sub) &&
        strstr(err.message, "chmod 600"));
  CHECK(mkdir(sub, 0700) == 0);
  CHECK(fr__srv_key_file_check(sub, &err) == FR_E_INVALID && strstr(err.message, sub) &&
        strstr(err.message, "0700") && strstr(err.message, "regular file"));
  CHECK(fr__srv_key_file_check("", &err) == FR_E_INVALID);
  CHECK(fr__srv_key_file_check(NULL, &err) == FR_E_INVALID);
  CHECK(fr__srv_key_file_check("/dev/null", &err) == FR_E_INVALID);
  unlink(link);
  unlink(path);
  rmdir(sub);
  rmdir(dir);
}

/* ---- --bind ----------------------------------------------------------------------------- */

static void test_bind(void) {
  struct sockaddr_storage a;
  socklen_t len;
  int loop;
  fr_error err = {0, ""};
  CHECK_OK(fr__srv_parse_bind("127.0.0.1", &a, &len, &loop, &err), &err);
  const struct sockaddr_in *in = (const struct sockaddr_in *)&a;
  CHECK(a.ss_family == AF_INET && len == sizeof(struct sockaddr_in) && loop &&
        in->sin_port == 0 && ntohl(in->sin_addr.s_addr) == 0x7F000001);
  CHECK_OK(fr__srv_parse_bind("127.1.2.3", &a, &len, &loop, &err), &err);
  CHECK(loop);
  CHECK_OK(fr__srv_parse_bind("localhost", &a, &len, &loop, &err), &err);
  CHECK(a.ss_family == AF_INET && loop && ntohl(in->sin_addr.s_addr) == 0x7F000001);
  CHECK_OK(fr__srv_parse_bind("LocalHost", &a, &len, &loop, &err), &err);
  CHECK_OK(fr__srv_parse_bind("0.0.0.0", &a, &len, &loop, &err), &err);
  CHECK(!loop && in->sin_addr.s_addr == 0);
  CHECK_OK(fr__srv_parse_bind("192.168.1.20", &a, &len, &loop, &err), &err);
  CHECK(!loop);
  CHECK_OK(fr__srv_parse_bind("128.0.0.1", &a, &len, &loop, &err), &err);
  CHECK(!loop);
  const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a;
  CHECK_OK(fr__srv_parse_bind("::1", &a, &len, &loop, &err), &err);
  CHECK(a.ss_family == AF_INET6 && len == sizeof(struct sockaddr_in6) && loop &&
        in6->sin6_port == 0 && in6->sin6_addr.s6_addr[15] == 1);
  CHECK_OK(fr__srv_parse_bind("[::1]", &a, &len, &loop, &err), &err);
  CHECK(a.ss_family == AF_INET6 && loop);
  CHECK_OK(fr__srv_parse_bind("0:0:0:0:0:0:0:1", &a, &len, &loop, &err), &err);
  CHECK(loop);
  CHECK_OK(fr__srv_parse_bind("::", &a, &len, &loop, &err), &err);
  CHECK(!loop);
  CHECK_OK(fr__srv_parse_bind("[::]", &a, &len, &loop, &err), &err);
  CHECK_OK(fr__srv_parse_bind("::ffff:127.0.0.1", &a, &len, &loop, &err), &err);
  CHECK(loop);
  CHECK_OK(fr__srv_parse_bind("::ffff:10.0.0.1", &a, &len, &loop, &err), &err);
  CHECK(!loop);
  CHECK_OK(fr__srv_parse_bind("fe80::1", &a, &len, &loop, &err), &err);
  CHECK(!loop);
  static const char *const bad[] = {"999.1.1.1", "1.2.3",   "1.2.3.4.5",  "256.0.0.1", "",
                                    "localhost.", "example.com", "127.0.0.1:80", "[127.0.0.1]",
                                    "[::1",       "::1]",      "[[::1]]",    "fe80::1%eth0",
                                    " 127.0.0.1", "127.0.0.1 ", "0x7f.0.0.1", "127.1",
                                    ":::1",       "1::2::3",   "[::1]:80",   "*"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    loop = 7;
    fr_status st = fr__srv_parse_bind(bad[i], &a, &len, &loop, &err);
    CHECK_MSG(st == FR_E_INVALID && err.status == st && err.message[0] && loop == 0 && len == 0,
              "bind \"%s\": %d", bad[i], st);
  }
  CHECK(fr__srv_parse_bind(NULL, &a, &len, &loop, &err) == FR_E_INVALID);
  CHECK(fr__srv_parse_bind("999.1.1.1", &a, &len, &loop, &err) == FR_E_INVALID &&
        strstr(err.message, "999.1.1.1"));
}

/* ---- Host ------------------------------------------------------------------------------- */

static void test_host(void) {
  const char *none[1] = {NULL};
  /* Bound to 127.0.0.1 (loopback). */
  static const char *const ok_loop[] = {
      "127.0.0.1",  "127.0.0.1:8080", "localhost", "LOCALHOST:1",   "localhost:65535",
      "127.0.0.2",  "127.255.0.1:80", "[::1]",     "[::1]:8080",    "[0:0::1]:1",
      "[::ffff:127.0.0.1]:80",        "LocalHost:08080"};
  for (size_t i = 0; i < sizeof ok_loop / sizeof ok_loop[0]; i++)
    CHECK_MSG(fr__srv_host_allowed(ok_loop[i], "127.0.0.1", 1, 0, none, 0) == 1, "Host %s",
              ok_loop[i]);
  static const char *const bad_loop[] = {
      "evil.example", "evil.example:8080", "localhost.evil.com", "localhost.", "localhost.:80",
      "evil.localhost", "",               ":8080",             "localhost:",  "localhost:0",
      "localhost:65536", "localhost:123456", "localhost:-1",   "localhost:8a", "localhost:+80",
      "localhost :80",  " localhost",     "localhost ",        "local host",  "localhost\r\n",
      "localhost\r\nX-Evil: 1", "localhost/", "user@localhost", "localhost#", "localhost?x",
      "[::1", "::1",      "[::1]x",        "[::1]:",            "[::1]:0",     "[localhost]",
      "[127.0.0.1]",      "127.1",        "0x7f.0.0.1",        "2130706433",  "10.0.0.1",
      "[::2]",            "[fe80::1%25eth0]", "127.0.0.1:80:80", "%6cocalhost", "l\xC3\xB6" "calhost",
      "[v1.fe]",          "0.0.0.0",      "[::]"};
  for (size_t i = 0; i < sizeof bad_loop / sizeof bad_loop[0]; i++)
    CHECK_MSG(fr__srv_host_allowed(bad_loop[i], "127.0.0.1", 1, 0, none, 0) == 0, "Host %s",
              bad_loop[i]);
  CHECK(fr__srv_host_allowed(NULL, "127.0.0.1", 1, 0, none, 0) == 0);
  CHECK(fr__srv_host_allowed(NULL, NULL, 1, 1, NULL, 0) == 0);
  /* A very long Host. */
  char longh[1200];
  memset(longh, 'a', sizeof longh - 1);
  longh[sizeof longh - 1] = '\0';
  const char *allow_long[1] = {longh};
  CHECK(fr__srv_host_allowed(longh, "127.0.0.1", 1, 0, allow_long, 1) == 0);

  /* Bound to a specific non-loopback address: only that literal. */
  CHECK(fr__srv_host_allowed("192.168.1.20:8080", "192.168.1.20", 0, 0, none, 0) == 1);
  CHECK(fr__srv_host_allowed("192.168.1.20", "192.168.1.20", 0, 0, none, 0) == 1);
  CHECK(fr__srv_host_allowed("192.168.1.21", "192.168.1.20", 0, 0, none, 0) == 0);
  CHECK(fr__srv_host_allowed("localhost", "192.168.1.20", 0, 0, none, 0) == 0);
  CHECK(fr__srv_host_allowed("127.0.0.1", "192.168.1.20", 0, 0, none, 0) == 0);
  CHECK(fr__srv_host_allowed("evil.example", "192.168.1.20", 0, 0, none, 0) == 0);
  /* IPv6 binds, compared as addresses. */
  CHECK(fr__srv_host_allowed("[FE80::1]:80", "fe80::1", 0, 0, none, 0) == 1);
  CHECK(fr__srv_host_allowed("[fe80:0::1]", "[fe80::1]", 0, 0, none, 0) == 1);
  CHECK(fr__srv_host_allowed("[fe80::2]", "fe80::1", 0, 0, none, 0) == 0);
  CHECK(fr__srv_host_allowed("fe80::1", "fe80::1", 0, 0, none, 0) == 0); /* unbracketed */
  CHECK(fr__srv_host_allowed("[::1]:80", "::1", 1, 0, none, 0) == 1);
  CHECK(fr__srv_host_allowed("localhost:80", "::1", 1, 0, none, 0) == 1);
  CHECK(fr__srv_host_allowed("localhost:80", "localhost", 1, 0, none, 0) == 1);
  /* Bound to any address: any IP literal, but no names. */
  CHECK(fr__srv_host_allowed("10.1.2.3:8080", "0.0.0.0", 0, 1, none, 0) == 1);
  CHECK(fr__srv_host_allowed("0.0.0.0", "0.0.0.0", 0, 1, none, 0) == 1);
  CHECK(fr__srv_host_allowed("[2001:db8::1]:8080", "::", 0, 1, none, 0) == 1);
  CHECK(fr__srv_host_allowed("127.0.0.1", "::", 0, 1, none, 0) == 1);
  CHECK(fr__srv_host_allowed("evil.example", "0.0.0.0", 0, 1, none, 0) == 0);
  /* Browsers resolve localhost to loopback themselves: no rebinding through it. */
  CHECK(fr__srv_host_allowed("localhost", "0.0.0.0", 0, 1, none, 0) == 1);
  CHECK(fr__srv_host_allowed("localhost.evil.example", "0.0.0.0", 0, 1, none, 0) == 0);
  CHECK(fr__srv_host_allowed("999.1.1.1", "0.0.0.0", 0, 1, none, 0) == 0);
  CHECK(fr__srv_host_allowed("1.2.3", "0.0.0.0", 0, 1, none, 0) == 0);
  CHECK(fr__srv_host_allowed("[evil]", "0.0.0.0", 0, 1, none, 0) == 0);
  /* --allowed-host names: case-insensitive, any port, exact name. */
  const char *allowed[3] = {"faces.example.org", "Box", "[fe80::9]"};
  CHECK(fr__srv_host_allowed("faces.example.org", "0.0.0.0", 0, 1, allowed, 3) == 1);
  CHECK(fr__srv_host_allowed("FACES.Example.ORG:8443", "127.0.0.1", 1, 0, allowed, 3) == 1);
  CHECK(fr__srv_host_allowed("box:1", "10.0.0.1", 0, 0, allowed, 3) == 1);
  CHECK(fr__srv_host_allowed("[fe80::9]:80", "10.0.0.1", 0, 0, allowed, 3) == 1);
  CHECK(fr__srv_host_allowed("evil.faces.example.org", "127.0.0.1", 1, 0, allowed, 3) == 0);
  CHECK(fr__srv_host_allowed("faces.example.org.evil", "127.0.0.1", 1, 0, allowed, 3) == 0);
  CHECK(fr__srv_host_allowed("boxx", "127.0.0.1", 1, 0, allowed, 3) == 0);
  CHECK(fr__srv_host_allowed("box", "127.0.0.1", 1, 0, allowed, 2 - 1) == 0); /* n honoured */
  CHECK(fr__srv_host_allowed("faces.example.org:0", "127.0.0.1", 1, 0, allowed, 3) == 0);
  const char *empty[1] = {""};
  CHECK(fr__srv_host_allowed("", "127.0.0.1", 1, 0, empty, 1) == 0);
  CHECK(fr__srv_host_allowed(":80", "127.0.0.1", 1, 0, empty, 1) == 0);
  /* No bind text at all. */
  CHECK(fr__srv_host_allowed("localhost", NULL, 1, 0, NULL, 0) == 1);
  CHECK(fr__srv_host_allowed("evil.example", NULL, 0, 1, NULL, 0) == 0);
}

/* ---- Origin ----------------------------------------------------------------------------- */

static void test_origin(void) {
  const char *none[1] = {NULL};
  const char *h = "127.0.0.1:8080";
  CHECK(fr__srv_origin_allowed(NULL, h, none, 0) == 1);
  CHECK(fr__srv_origin_allowed(NULL, NULL, NULL, 0) == 1);
  CHECK(fr__srv_origin_allowed("http://127.0.0.1:8080", h, none, 0) == 1);
  CHECK(fr__srv_origin_allowed("HTTP://127.0.0.1:8080", h, none, 0) == 1);
  CHECK(fr__srv_origin_allowed("http://LocalHost:8080", "localhost:8080", none, 0) == 1);
  CHECK(fr__srv_origin_allowed("http://localhost", "LOCALHOST", none, 0) == 1);
  CHECK(fr__srv_origin_allowed("http://[::1]:8080", "[::1]:8080", none, 0) == 1);
  static const char *const bad[] = {
      "null",  "NULL",  "",  "https://127.0.0.1:8080", "http://127.0.0.1",
      "http://127.0.0.1:8081", "http://127.0.0.1:8080/", "http://127.0.0.1:80800",
      "http://127.0.0.1:8080.evil", "http://127.0.0.1:8080@evil", "http://evil.example",
      "ws://127.0.0.1:8080", "http:/127.0.0.1:8080", "127.0.0.1:8080", "http://",
      "http://127.0.0.1:8080 ", " http://127.0.0.1:8080", "http://127.0.0.1:8080\r\n",
      "http://127.0.0.1:8080\r\nX: y", "http://127.0.0.1:8080\t", "http://127.0.0.1:8080 http://evil",
      "http://127.0.0.1:8080\x80", "file://", "http://evil.example http://127.0.0.1:8080"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_MSG(fr__srv_origin_allowed(bad[i], h, none, 0) == 0, "Origin \"%s\"", bad[i]);
  CHECK(fr__srv_origin_allowed("http://localhost:8080", h, none, 0) == 0);
  CHECK(fr__srv_origin_allowed("http://127.0.0.1:8080", NULL, none, 0) == 0);
  CHECK(fr__srv_origin_allowed("http://", "", none, 0) == 0);
  /* A Host that could not have passed fr__srv_host_allowed never makes an
   * Origin acceptable. */
  CHECK(fr__srv_origin_allowed("http://a/b", "a/b", none, 0) == 0);
  CHECK(fr__srv_origin_allowed("http://x@a", "x@a", none, 0) == 0);
  CHECK(fr__srv_origin_allowed("http://a b", "a b", none, 0) == 0);
  /* --allowed-origin: exact, case-insensitive. */
  const char *allowed[2] = {"https://app.example.com", "http://LOCALHOST:3000"};
  CHECK(fr__srv_origin_allowed("https://app.example.com", h, allowed, 2) == 1);
  CHECK(fr__srv_origin_allowed("HTTPS://APP.example.COM", h, allowed, 2) == 1);
  CHECK(fr__srv_origin_allowed("http://localhost:3000", h, allowed, 2) == 1);
  CHECK(fr__srv_origin_allowed("http://app.example.com", h, allowed, 2) == 0);
  CHECK(fr__srv_origin_allowed("https://app.example.com:443", h, allowed, 2) == 0);
  CHECK(fr__srv_origin_allowed("https://app.example.com.evil", h, allowed, 2) == 0);
  CHECK(fr__srv_origin_allowed("https://evil.app.example.com", h, allowed, 2) == 0);
  CHECK(fr__srv_origin_allowed("https://app.example.com/", h, allowed, 2) == 0);
  CHECK(fr__srv_origin_allowed("http://localhost:3000", h, allowed, 1) == 0); /* n honoured */
  const char *with_null[1] = {"null"};
  CHECK(fr__srv_origin_allowed("null", h, with_null, 1) == 0);
  const char *empty[1] = {""};
  CHECK(fr__srv_origin_allowed("", h, empty, 1) == 0);
}

int main(void) {
  test_names();
  test_json();
  test_paths();
  test_key_file();
  test_bind();
  test_host();
  test_origin();
  return check_summary();
}

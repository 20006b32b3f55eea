/*
 * fuzz_http.c - libFuzzer target: the server's request parsers
 * (src/server/parse.c) that read what HTTP clients send: query strings and
 * raw-pixel descriptions, multipart bodies, JSON subject bodies, route paths,
 * names and their NFC form, percent-decoded request paths, Host and Origin
 * headers, --bind addresses and the API key file. The first input byte picks
 * the parser (data[0] % 12), the rest is its input. Besides the sanitizers'
 * checks, each parser's promises are checked: a failure has a known status
 * and a message, a success stays inside the input and is consistent (parts
 * within the body, a raw geometry that fits the body, a valid name that is
 * NFC and re-normalises to itself, a decoded path without control bytes, a
 * Host or Origin accepted only in one of the forms parse.h lists). Built
 * against libfrserver.a only (no HTTP library, no fuzz.h): see the Makefile.
 */
#include "server/parse.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistr.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void violated(const char *what, const fr_error *err) {
  fprintf(stderr, "\nfuzz_http: %s (%s)\n", what, err ? err->message : "");
  abort();
}

/* A failure must be one of the statuses parse.h names, with a message. */
static void check_failure(fr_status st, const fr_error *err) {
  if (st != FR_E_FORMAT && st != FR_E_LIMIT && st != FR_E_INVALID && st != FR_E_NOTFOUND &&
      st != FR_E_UNSUPPORTED && st != FR_E_NOMEM)
    violated("a failure with a status parse.h does not name", err);
  if (err->status != st || !memchr(err->message, 0, sizeof err->message) || !err->message[0])
    violated("a failure without a matching message", err);
}

/* The promises of an accepted name (n bytes): 1 to FR_NAME_MAX - 1 bytes of
 * valid UTF-8, none of the refused characters, not "." or "..", no
 * surrounding space, in NFC (normalising it again changes nothing). */
static void check_name(const char *name, size_t n) {
  if (n == 0 || n >= FR_NAME_MAX) violated("an accepted name of a bad length", NULL);
  if (u8_check((const uint8_t *)name, n)) violated("an accepted name that is not UTF-8", NULL);
  if (name[0] == ' ' || name[n - 1] == ' ') violated("an accepted name with a surrounding space", NULL);
  if ((n == 1 && name[0] == '.') || (n == 2 && name[0] == '.' && name[1] == '.'))
    violated("an accepted dot name", NULL);
  const uint8_t *p = (const uint8_t *)name, *end = p + n;
  while (p < end) {
    ucs4_t c;
    int len = u8_mbtouc(&c, p, (size_t)(end - p));
    if (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0) || c == '/' || c == '\\' ||
        c == 0x061C || c == 0x200E || c == 0x200F || (c >= 0x202A && c <= 0x202E) ||
        (c >= 0x2066 && c <= 0x2069) || c == 0x00AD || (c >= 0x200B && c <= 0x200D) ||
        (c >= 0x2060 && c <= 0x2064) || c == 0xFEFF || (c >= 0xFDD0 && c <= 0xFDEF) ||
        (c & 0xFFFE) == 0xFFFE)
      violated("an accepted name with a refused character", NULL);
    p += len;
  }
  char again[FR_NAME_MAX];
  fr_error err = {0, ""};
  if (fr__srv_name_normalize(name, n, again, &err) != FR_OK)
    violated("a normalised name that does not normalise again", &err);
  if (strlen(again) != n || memcmp(again, name, n) != 0)
    violated("a normalised name that changes when normalised again", &err);
  if (!fr__srv_valid_name(name, n)) violated("a normalised name fr__srv_valid_name refuses", NULL);
}

/* Splits the input at its first newline into two NUL-terminated strings
 * (both inside s, which is modified). */
static char *split_line(char *s, size_t size) {
  char *nl = memchr(s, '\n', size);
  if (!nl) return s + size; /* the empty string at the end */
  *nl = '\0';
  return nl + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return -1;
  int which = data[0] % 12;
  /* The rest of the selector byte: flags and sizes for the newer cases. */
  unsigned sel = data[0] / 12u;
  data++, size--;
  /* A NUL-terminated copy for the parsers that take C strings (what the server
   * hands over), and the exact bytes for those that take a length. */
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  fr_error err = {0, ""};
  fr_status st;
  switch (which) {
  case 0: { /* a query string as raw-pixel parameters, body size from its first bytes */
    size_t body = size >= 2 ? (size_t)data[0] << 8 | data[1] : 0;
    fr__srv_raw raw;
    st = fr__srv_raw_from_query(s, body * 3, &raw, &err);
    if (st != FR_OK) check_failure(st, &err);
    else if (fr__srv_raw_check(&raw, body * 3, &err) != FR_OK)
      violated("an accepted raw geometry that its own check refuses", &err);
    char v[FR_SRV_MAX_PARAM];
    int found;
    st = fr__srv_query_get(s, "name", v, sizeof v, &found, &err);
    if (st != FR_OK) check_failure(st, &err);
    else if (found && strlen(v) >= sizeof v) violated("a value longer than its buffer", &err);
    break;
  }
  case 1: { /* multipart: the first line is the Content-Type, the rest the body */
    const char *nl = memchr(s, '\n', size);
    size_t ct_len = nl ? (size_t)(nl - s) : size;
    char ct[256];
    snprintf(ct, sizeof ct, "%.*s", (int)(ct_len < 255 ? ct_len : 255), s);
    const uint8_t *body = nl ? data + ct_len + 1 : data + size;
    size_t n = nl ? size - ct_len - 1 : 0;
    /* An exact-size copy, so that reading past the body is an ASan report. */
    uint8_t *b = malloc(n ? n : 1);
    if (!b) break;
    memcpy(b, body, n);
    fr__srv_part parts[FR_SRV_MAX_PARTS];
    int np = 0;
    st = fr__srv_multipart(ct, b, n, parts, FR_SRV_MAX_PARTS, &np, &err);
    if (st != FR_OK) check_failure(st, &err);
    else {
      if (np < 1 || np > FR_SRV_MAX_PARTS) violated("a part count out of range", &err);
      for (int i = 0; i < np; i++) {
        const fr__srv_part *p = &parts[i];
        if (p->data < b || p->data + p->size > b + n) violated("a part outside the body", &err);
        if ((const uint8_t *)p->name < b || (const uint8_t *)p->name + p->name_len > b + n)
          violated("a part name outside the body", &err);
        if (p->type && ((const uint8_t *)p->type < b || (const uint8_t *)p->type + p->type_len > b + n))
          violated("a part type outside the body", &err);
      }
    }
    free(b);
    break;
  }
  case 2: { /* a JSON subject body */
    char name[FR_NAME_MAX], meta[FR_SRV_MAX_META + 1];
    int has_meta;
    st = fr__srv_subject_json(s, size, name, meta, sizeof meta, &has_meta, &err);
    if (st != FR_OK) {
      check_failure(st, &err);
      if (name[0] || has_meta) violated("a refused body that left a name or metadata", &err);
    } else {
      if (!fr__srv_valid_name(name, strlen(name))) violated("an accepted body with an invalid name", &err);
      check_name(name, strlen(name));
      if (strlen(meta) > FR_SRV_MAX_META) violated("metadata over its limit", &err);
      if (!has_meta && meta[0]) violated("metadata without has_meta", &err);
      /* The scan promises: no body nested deeper than the limit and no byte
       * that is not UTF-8 is accepted. */
      int depth = 0, max_depth = 0, in_str = 0;
      for (size_t i = 0; i < size; i++) {
        char c = s[i];
        if (in_str) {
          if (c == '\\') i++;
          else if (c == '"') in_str = 0;
        } else if (c == '"') in_str = 1;
        else if (c == '[' || c == '{') {
          depth++;
          if (depth > max_depth) max_depth = depth;
        }
        else if (c == ']' || c == '}') depth--;
      }
      if (max_depth > FR_SRV_MAX_JSON_DEPTH) violated("an accepted body nested too deep", &err);
      if (u8_check(data, size)) violated("an accepted body that is not UTF-8", &err);
    }
    break;
  }
  case 3: { /* a route: the method is the first word */
    const char *methods[4] = {"GET", "POST", "DELETE", "PUT"};
    fr__srv_route r;
    st = fr__srv_route_parse(methods[size ? data[0] & 3 : 0], size ? s + 1 : s, &r, &err);
    if (st != FR_OK) check_failure(st, &err);
    else {
      if (r.id <= FR_ROUTE_NONE || r.id >= FR_ROUTE_COUNT) violated("a route id out of range", &err);
      if ((r.id == FR_ROUTE_SUBJECT || r.id == FR_ROUTE_SUBJECT_FACES)) {
        if (!fr__srv_valid_name(r.name, strlen(r.name))) violated("a route with an invalid name", &err);
        check_name(r.name, strlen(r.name));
      }
      if (r.id == FR_ROUTE_FACE && r.face_id < 1) violated("a face id below 1", &err);
    }
    break;
  }
  case 4: { /* the key file, and a key looked up in it */
    fr__srv_key keys[FR_SRV_MAX_KEYS];
    int nk = 0;
    st = fr__srv_keys_parse(s, size, keys, FR_SRV_MAX_KEYS, &nk, &err);
    if (st != FR_OK) check_failure(st, &err);
    else {
      if (nk < 0 || nk > FR_SRV_MAX_KEYS) violated("a key count out of range", &err);
      for (int i = 0; i < nk; i++)
        if (strlen(keys[i].hash) != 64) violated("a stored key hash that is not 64 digits", &err);
      int level = fr__srv_key_level(keys, nk, s);
      if (level < -1 || level > 1) violated("a key level out of range", &err);
    }
    break;
  }
  case 5: { /* a name */
    int ok = fr__srv_valid_name(s, size);
    if (ok && (size == 0 || size >= FR_NAME_MAX || memchr(s, '/', size) || memchr(s, 0, size)))
      violated("an accepted name with a forbidden byte or length", NULL);
    if (ok) check_name(s, size);
    break;
  }
  case 6: { /* any parameter of a query string */
    char v[16];
    int found;
    st = fr__srv_query_get(s, size ? s + size - 1 : "", v, sizeof v, &found, &err);
    if (st != FR_OK) check_failure(st, &err);
    break;
  }
  case 7: { /* a name, normalised; an exact-size copy so that overreads are reported */
    char *b = malloc(size ? size : 1);
    if (!b) break;
    memcpy(b, data, size);
    char name[FR_NAME_MAX];
    st = fr__srv_name_normalize(b, size, name, &err);
    if (st != FR_OK) {
      check_failure(st, &err);
      if (name[0]) violated("a refused name that left an output", &err);
      if (fr__srv_valid_name(b, size)) violated("fr__srv_valid_name accepts a refused name", &err);
    } else {
      check_name(name, strlen(name));
      int same = strlen(name) == size && memcmp(name, b, size) == 0;
      if (fr__srv_valid_name(b, size) != same)
        violated("fr__srv_valid_name disagrees with the normalisation", &err);
    }
    free(b);
    break;
  }
  case 8: { /* a request path, decoded, then routed with a method from its first byte */
    char *b = malloc(size ? size : 1);
    if (!b) break;
    memcpy(b, data, size);
    char out[512];
    size_t cap = sel ? (size_t)sel * 3 : sizeof out;
    st = fr__srv_path_decode(b, size, out, cap, &err);
    if (st != FR_OK) {
      check_failure(st, &err);
      if (out[0]) violated("a refused path that left an output", &err);
    } else {
      size_t n = strlen(out);
      if (n >= cap || n > size) violated("a decoded path longer than its buffer or input", &err);
      for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7F) violated("a control byte in a decoded path", &err);
      if (n == size && memcmp(out, b, n) != 0) violated("a path without escapes that changed", &err);
      if (!memchr(b, '%', size) && n != size) violated("a path without escapes that changed length", &err);
      const char *methods[4] = {"GET", "POST", "DELETE", "HEAD"};
      fr__srv_route r;
      st = fr__srv_route_parse(methods[sel & 3], out, &r, &err);
      if (st != FR_OK) check_failure(st, &err);
      else if (r.id == FR_ROUTE_SUBJECT || r.id == FR_ROUTE_SUBJECT_FACES) check_name(r.name, strlen(r.name));
    }
    free(b);
    break;
  }
  case 9: { /* a Host header; the second line, if any, is the bind address, the rest allowed names */
    char *host = s;
    char *bind = split_line(s, size);
    char *rest = split_line(bind, strlen(bind));
    const char *allowed[3] = {rest, "faces.example", NULL}; /* n_allowed 0-3 */
    unsigned flags = sel;
    int ok = fr__srv_host_allowed(host, bind[0] ? bind : NULL, flags & 1, (flags >> 1) & 1, allowed,
                                  (flags >> 2) & 3);
    if (ok != 0 && ok != 1) violated("fr__srv_host_allowed is not 0 or 1", NULL);
    if (ok) {
      /* An accepted Host is printable ASCII without the characters that
       * could smuggle another host, and its port is 1-65535. */
      size_t n = strlen(host);
      if (n == 0) violated("an accepted empty Host", NULL);
      for (size_t i = 0; i < n; i++)
        if ((unsigned char)host[i] <= 0x20 || (unsigned char)host[i] >= 0x7F || strchr("/?#@\\%", host[i]))
          violated("an accepted Host with a forbidden byte", NULL);
      const char *close = strrchr(host, ']');
      const char *colon = strrchr(close ? close : host, ':');
      if (colon) {
        long port = strtol(colon + 1, NULL, 10);
        if (port < 1 || port > 65535 || strlen(colon + 1) > 5) violated("an accepted Host with a bad port", NULL);
      }
      /* Without bind, loopback, any or allowed names, nothing is accepted. */
      if (fr__srv_host_allowed(host, NULL, 0, 0, NULL, 0)) violated("a Host accepted with nothing allowed", NULL);
    }
    if (fr__srv_host_allowed(host, NULL, 0, 0, allowed, 0)) violated("a Host accepted with nothing allowed", NULL);
    break;
  }
  case 10: { /* an Origin header, then on the next line the Host, then an allowed origin */
    char *origin = s;
    char *host = split_line(s, size);
    char *rest = split_line(host, strlen(host));
    const char *allowed[1] = {rest};
    int n_allowed = (int)(sel & 1);
    int ok = fr__srv_origin_allowed(origin, host, allowed, n_allowed);
    if (ok != 0 && ok != 1) violated("fr__srv_origin_allowed is not 0 or 1", NULL);
    if (ok) {
      size_t n = strlen(origin);
      for (size_t i = 0; i < n; i++)
        if ((unsigned char)origin[i] <= 0x20 || (unsigned char)origin[i] >= 0x7F)
          violated("an accepted Origin with whitespace or a control byte", NULL);
      if (strcasecmp(origin, "null") == 0) violated("an accepted null Origin", NULL);
      int as_host = n > 7 && strncasecmp(origin, "http://", 7) == 0 && strcasecmp(origin + 7, host) == 0;
      int as_allowed = n_allowed && strcasecmp(origin, rest) == 0;
      if (!as_host && !as_allowed) violated("an accepted Origin that is neither http://Host nor allowed", NULL);
    }
    if (fr__srv_origin_allowed(NULL, host, allowed, n_allowed) != 1)
      violated("a request without Origin refused", NULL);
    break;
  }
  default: { /* a --bind address */
    struct sockaddr_storage a;
    socklen_t len;
    int loop;
    st = fr__srv_parse_bind(s, &a, &len, &loop, &err);
    if (st != FR_OK) {
      check_failure(st, &err);
      if (len != 0 || loop != 0) violated("a refused bind address that left a result", &err);
    } else {
      if (!(a.ss_family == AF_INET && len == sizeof(struct sockaddr_in)) &&
          !(a.ss_family == AF_INET6 && len == sizeof(struct sockaddr_in6)))
        violated("a bind address of a bad family or length", &err);
      if (a.ss_family == AF_INET && ((struct sockaddr_in *)&a)->sin_port != 0) violated("a port set", &err);
      if (a.ss_family == AF_INET6 && ((struct sockaddr_in6 *)&a)->sin6_port != 0) violated("a port set", &err);
      if (loop && a.ss_family == AF_INET && (ntohl(((struct sockaddr_in *)&a)->sin_addr.s_addr) >> 24) != 127)
        violated("a loopback IPv4 address outside 127/8", &err);
      /* A bind address is what the server answers to as a Host. */
      if (!memchr(s, ':', size) && !fr__srv_host_allowed(s, s, loop, 0, NULL, 0))
        violated("the bind address is not an allowed Host", &err);
    }
    break;
  }
  }
  free(s);
  return 0;
}

/*
 * fuzz_http.c - libFuzzer target: the server's request parsers
 * (src/server/parse.c) that read what HTTP clients send: query strings and
 * raw-pixel descriptions, multipart bodies, JSON subject bodies, route paths,
 * names and the API key file. The first input byte picks the parser, the
 * rest is its input. Besides the sanitizers' checks, each parser's promises
 * are checked: a failure has a known status and a message, a success stays
 * inside the input and is consistent (parts within the body, a raw geometry
 * that fits the body, a valid name). Built against libfrserver.a only (no
 * civetweb, no fuzz.h): see the Makefile.
 */
#include "server/parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void violated(const char *what, const fr_error *err) {
  fprintf(stderr, "\nfuzz_http: %s (%s)\n", what, err ? err->message : "");
  abort();
}

/* A failure must be one of the statuses parse.h names, with a message. */
static void check_failure(fr_status st, const fr_error *err) {
  if (st != FR_E_FORMAT && st != FR_E_LIMIT && st != FR_E_INVALID && st != FR_E_NOTFOUND &&
      st != FR_E_UNSUPPORTED)
    violated("a failure with a status parse.h does not name", err);
  if (err->status != st || !memchr(err->message, 0, sizeof err->message) || !err->message[0])
    violated("a failure without a matching message", err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return -1;
  int which = data[0] % 7;
  data++, size--;
  /* A NUL-terminated copy for the parsers that take C strings (what civetweb
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
    if (st != FR_OK) check_failure(st, &err);
    else if (!fr__srv_valid_name(name, strlen(name))) violated("an accepted body with an invalid name", &err);
    break;
  }
  case 3: { /* a route: the method is the first word */
    const char *methods[4] = {"GET", "POST", "DELETE", "PUT"};
    fr__srv_route r;
    st = fr__srv_route_parse(methods[size ? data[0] & 3 : 0], size ? s + 1 : s, &r, &err);
    if (st != FR_OK) check_failure(st, &err);
    else {
      if (r.id <= FR_ROUTE_NONE || r.id >= FR_ROUTE_COUNT) violated("a route id out of range", &err);
      if ((r.id == FR_ROUTE_SUBJECT || r.id == FR_ROUTE_SUBJECT_FACES) && !fr__srv_valid_name(r.name, strlen(r.name)))
        violated("a route with an invalid name", &err);
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
    break;
  }
  default: { /* any parameter of a query string */
    char v[16];
    int found;
    st = fr__srv_query_get(s, size ? s + size - 1 : "", v, sizeof v, &found, &err);
    if (st != FR_OK) check_failure(st, &err);
    break;
  }
  }
  free(s);
  return 0;
}

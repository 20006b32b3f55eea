/*
 * parse.h - the server's parsers of untrusted request bytes (prefix fr__srv_).
 *
 * Everything the HTTP server reads from a client that is not HTTP framing
 * itself (civetweb does that) goes through these functions: query
 * parameters, raw-pixel descriptions, multipart bodies, WebSocket frame
 * payload headers, JSON bodies, person names, route paths and the API key
 * file. They do no I/O, keep no state and need no HTTP library, so that the
 * unit tests and the libFuzzer targets (fuzz/fuzz_http.c, fuzz/fuzz_ws.c) run
 * them on arbitrary bytes exactly as the server does. All are thread-safe.
 * Every failure is FR_E_FORMAT (malformed), FR_E_LIMIT (over a limit) or
 * FR_E_INVALID (well-formed but not acceptable), with a message fit to be
 * shown to the client.
 */
#ifndef FR_SERVER_PARSE_H
#define FR_SERVER_PARSE_H

#include "core/internal.h"

#include <stddef.h>
#include <stdint.h>

/* Limits on what a client may send. */
#define FR_SRV_MAX_QUERY 2048          /* bytes of a query string */
#define FR_SRV_MAX_PARAM 256           /* bytes of one decoded query value */
#define FR_SRV_MAX_JSON (16 * 1024)    /* bytes of a JSON request body */
#define FR_SRV_MAX_PARTS 8             /* parts of a multipart body */
#define FR_SRV_MAX_SIDE 4096           /* width or height of a raw or decoded image */
#define FR_SRV_MAX_PIXELS (4096 * 4096) /* width * height of one */
#define FR_SRV_MAX_META 1024           /* bytes of a person's metadata */

/* A raw pixel buffer's geometry, from query parameters or a frame header. */
typedef struct fr__srv_raw {
  int width, height, stride;
  fr_pixel_format format;
} fr__srv_raw;

/* The pixel format called name ("gray", "rgb", "bgr", "rgba", "bgra"), or 0. */
fr_pixel_format fr__srv_pixel_format(const char *name);

/*
 * Finds key in a query string (a=1&b=2, '+' and %XX decoded) and writes its
 * decoded value, NUL-terminated, to out. *found is 0 when the key is absent
 * (not an error). A value longer than size - 1 bytes, a bad %XX escape, a
 * NUL byte in the value or a query longer than FR_SRV_MAX_QUERY fail.
 */
fr_status fr__srv_query_get(const char *qs, const char *key, char *out, size_t size, int *found,
                            fr_error *err);

/* A decimal integer in [lo, hi], the whole string. 1 on success. */
int fr__srv_parse_int(const char *s, long lo, long hi, long *out);

/*
 * Reads width, height, format (default rgb) and stride (default
 * width * pixel size) from a query string and checks them against a body of
 * body_size bytes: the body must hold exactly height rows of stride bytes,
 * except that the last row may stop at width * pixel size.
 */
fr_status fr__srv_raw_from_query(const char *qs, size_t body_size, fr__srv_raw *raw,
                                 fr_error *err);

/* The same check of a geometry against a buffer size (shared by both paths). */
fr_status fr__srv_raw_check(const fr__srv_raw *raw, size_t size, fr_error *err);

/* One part of a multipart/form-data body; pointers point into the body. */
typedef struct fr__srv_part {
  const char *name; /* the form field name (not NUL-terminated) */
  size_t name_len;
  const char *type; /* the part's Content-Type value, or NULL */
  size_t type_len;
  const uint8_t *data;
  size_t size;
} fr__srv_part;

/*
 * Splits a multipart/form-data body (RFC 7578) using the boundary named in
 * content_type. Writes at most max parts; more than max is FR_E_LIMIT.
 * Each part must have a Content-Disposition: form-data header with a name.
 */
fr_status fr__srv_multipart(const char *content_type, const uint8_t *body, size_t size,
                            fr__srv_part *parts, int max, int *n_parts, fr_error *err);

/*
 * A WebSocket frame's payload, as the stream endpoint takes it. Either a bare
 * JPEG or PNG file, or a 24-byte header followed by the image:
 *   bytes 0-3   "FRF1"
 *   bytes 4-7   sequence number chosen by the client (echoed in the answer)
 *   bytes 8-11  width   } all little-endian uint32; format 0 means an
 *   bytes 12-15 height  } encoded JPEG/PNG follows (width, height and
 *   bytes 16-19 stride  } stride are then ignored), 1-5 an fr_pixel_format
 *   bytes 20-23 format  } of raw pixels checked like fr__srv_raw_check().
 */
#define FR_SRV_FRAME_MAGIC "FRF1"
#define FR_SRV_FRAME_HEADER 24

typedef struct fr__srv_frame {
  uint32_t seq;
  int has_seq;      /* 1 when the header gave seq */
  int raw;          /* 1: raw pixels described by `geometry` */
  fr__srv_raw geometry;
  const uint8_t *data; /* the image bytes (inside the payload) */
  size_t size;
} fr__srv_frame;

fr_status fr__srv_ws_frame(const uint8_t *payload, size_t size, fr__srv_frame *out,
                           fr_error *err);

/*
 * 1 if s (n bytes) is an acceptable person name: 1 to FR_NAME_MAX - 1 bytes of
 * valid UTF-8 without control characters, '/', '\\', or leading/trailing
 * spaces (names appear in URL paths and on screen).
 */
int fr__srv_valid_name(const char *s, size_t n);

/*
 * Parses a JSON body {"name": "...", "metadata": "..."} (metadata optional,
 * other members ignored) of at most FR_SRV_MAX_JSON bytes. name receives a
 * valid name; meta (meta_size >= FR_SRV_MAX_META + 1) the metadata or "",
 * *has_meta whether it was given.
 */
fr_status fr__srv_subject_json(const char *body, size_t size, char name[FR_NAME_MAX], char *meta,
                               size_t meta_size, int *has_meta, fr_error *err);

/* The API's routes. */
typedef enum fr__srv_route_id {
  FR_ROUTE_NONE = 0,
  FR_ROUTE_HEALTH,
  FR_ROUTE_DETECT,
  FR_ROUTE_EMBED,
  FR_ROUTE_RECOGNIZE,
  FR_ROUTE_VERIFY,
  FR_ROUTE_SUBJECTS,       /* GET list, POST create */
  FR_ROUTE_SUBJECT,        /* DELETE /subjects/{name} */
  FR_ROUTE_SUBJECT_FACES,  /* GET list, POST enrol */
  FR_ROUTE_FACE,           /* DELETE /faces/{id} */
  FR_ROUTE_METRICS,
  FR_ROUTE_COUNT
} fr__srv_route_id;

typedef struct fr__srv_route {
  fr__srv_route_id id;
  int admin;                /* 1: the method changes the gallery (admin key) */
  char name[FR_NAME_MAX];   /* SUBJECT, SUBJECT_FACES */
  int64_t face_id;          /* FACE */
} fr__srv_route;

/*
 * Maps a method and a decoded path to a route. FR_E_NOTFOUND for an unknown
 * path, FR_E_UNSUPPORTED for a known path with another method, FR_E_INVALID
 * for a bad name or id inside a known path.
 */
fr_status fr__srv_route_parse(const char *method, const char *path, fr__srv_route *r,
                              fr_error *err);

/* A short label of a route for logs and metrics ("recognize", ...). */
const char *fr__srv_route_name(fr__srv_route_id id);

/* API keys: "admin HEX" or "read HEX" per line (HEX = fr_sha256_hex of the
 * key), '#' comments and blank lines ignored. */
#define FR_SRV_MAX_KEYS 64
typedef struct fr__srv_key {
  char hash[65];
  int admin;
} fr__srv_key;

fr_status fr__srv_keys_parse(const char *text, size_t size, fr__srv_key *keys, int max,
                             int *n_keys, fr_error *err);

/* Which key a client's key is: -1 none, 0 read-only, 1 admin. Compares the
 * hashes in constant time. */
int fr__srv_key_level(const fr__srv_key *keys, int n_keys, const char *key);

#endif

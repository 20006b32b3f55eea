/*
 * parse.h - the server's parsers of untrusted request bytes (prefix fr__srv_).
 *
 * Everything the HTTP server reads from a client that is not HTTP framing
 * itself goes through these functions: query parameters, raw-pixel
 * descriptions, multipart bodies, WebSocket frame payload headers, JSON
 * bodies, person names, request paths, Host and Origin headers, the --bind
 * address and the API key file. They do no I/O (except
 * fr__srv_key_file_check, which stat()s one file), keep no state and need no
 * HTTP library, so that the unit tests (tests/test_server_parse.c) and the
 * libFuzzer targets (fuzz/fuzz_http.c, fuzz/fuzz_ws.c) run them on arbitrary
 * bytes exactly as the server does. All are thread-safe. Every failure is
 * FR_E_FORMAT (malformed), FR_E_LIMIT (over a limit) or FR_E_INVALID
 * (well-formed but not acceptable), with a message fit to be shown to the
 * client.
 */
#ifndef FR_SERVER_PARSE_H
#define FR_SERVER_PARSE_H

#include "core/internal.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Limits on what a client may send. */
#define FR_SRV_MAX_QUERY 2048          /* bytes of a query string */
#define FR_SRV_MAX_PARAM 256           /* bytes of one decoded query value */
#define FR_SRV_MAX_JSON (16 * 1024)    /* bytes of a JSON request body */
#define FR_SRV_MAX_PARTS 8             /* parts of a multipart body */
#define FR_SRV_MAX_SIDE 4096           /* width or height of a raw or decoded image */
#define FR_SRV_MAX_PIXELS (4096 * 4096) /* width * height of one */
#define FR_SRV_MAX_META 1024           /* bytes of a person's metadata */
#define FR_SRV_MAX_JSON_DEPTH 32       /* nesting of arrays and objects in a JSON body */
#define FR_SRV_MAX_NAME_INPUT (4 * FR_NAME_MAX) /* bytes of a name before NFC (see below) */

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
 * Validates a person name (n bytes, not NUL-terminated, from a JSON body or a
 * decoded URL path) and writes its Unicode NFC form, NUL-terminated, to out.
 * Names are stored and compared in NFC, so "e\u0301" and "\u00e9" are the
 * same person. Refused, in this order:
 *   FR_E_INVALID  an empty name;
 *   FR_E_LIMIT    more than FR_SRV_MAX_NAME_INPUT input bytes (NFC shrinks a
 *                 string by at most 3x, so no such input has an NFC form
 *                 under FR_NAME_MAX bytes);
 *   FR_E_FORMAT   invalid UTF-8 (truncated, overlong, surrogates, above
 *                 U+10FFFF);
 *   FR_E_INVALID  "." or "..", C0/C1 controls and DEL, '/', '\\', a leading
 *                 or trailing space (U+0020), bidirectional controls (U+061C,
 *                 U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), zero-width
 *                 and invisible characters (U+00AD, U+200B-U+200D,
 *                 U+2060-U+2064, U+FEFF) and noncharacters (U+FDD0-U+FDEF,
 *                 U+xxFFFE, U+xxFFFF);
 *   FR_E_LIMIT    an NFC form of FR_NAME_MAX bytes or more.
 * The same checks are applied to the NFC form too. FR_E_NOMEM only if
 * libunistring cannot allocate (it does not for names within the limits).
 */
fr_status fr__srv_name_normalize(const char *s, size_t n, char out[FR_NAME_MAX], fr_error *err);

/*
 * 1 if s (n bytes) is an acceptable name already in NFC, i.e. if
 * fr__srv_name_normalize accepts it and gives back the same bytes.
 */
int fr__srv_valid_name(const char *s, size_t n);

/*
 * Parses a JSON body {"name": "...", "metadata": "..."} of at most
 * FR_SRV_MAX_JSON bytes (FR_E_LIMIT). Before cJSON sees it, a non-recursive
 * scan checks the whole body against RFC 8259 and refuses (FR_E_FORMAT)
 * invalid UTF-8 anywhere, nesting deeper than FR_SRV_MAX_JSON_DEPTH, a
 * "\u0000" escape or a lone surrogate escape in a string, raw control
 * characters in a string and anything but whitespace after the value
 * ("trailing data"). Then the body must be an object (FR_E_INVALID) with a
 * string "name" and optionally a string (or null) "metadata"; either member
 * given twice is FR_E_INVALID; other members are ignored. name receives the
 * NFC form (fr__srv_name_normalize, whose errors are returned as they are);
 * meta (meta_size >= FR_SRV_MAX_META + 1) the metadata, at most
 * FR_SRV_MAX_META bytes (FR_E_LIMIT), or ""; *has_meta whether a string was
 * given. The depth error is FR_E_FORMAT, not FR_E_LIMIT, on purpose: it is a
 * 400, not a 413.
 */
fr_status fr__srv_subject_json(const char *body, size_t size, char name[FR_NAME_MAX], char *meta,
                               size_t meta_size, int *has_meta, fr_error *err);

/*
 * Percent-decodes a request path (raw, n bytes, without its query part) into
 * out (size bytes, NUL-terminated). '+' stays '+'. A bad %XX escape, %00 and
 * any decoded byte below 0x20 or equal to 0x7F (raw or escaped) are
 * FR_E_FORMAT; an output longer than size - 1 bytes is FR_E_LIMIT (a failure
 * leaves out empty, never a prefix). Bytes
 * 0x80-0xFF pass through (names are checked as UTF-8 by the route parser).
 * Dot segments are not resolved: a "." or ".." where a name is expected is
 * refused by fr__srv_route_parse.
 */
fr_status fr__srv_path_decode(const char *raw, size_t n, char *out, size_t size, fr_error *err);

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
 * Maps a method and a decoded path (fr__srv_path_decode) to a route.
 * FR_E_NOTFOUND for an unknown path, FR_E_UNSUPPORTED for a known path with
 * another method, FR_E_INVALID for a bad name or id inside a known path. A
 * name is checked and NFC-normalised by fr__srv_name_normalize, so r->name is
 * what the gallery stores; "." and ".." are refused.
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

/*
 * stat()s an API key file: it must exist, be a regular file (symbolic links
 * are followed) and be neither readable, writable nor executable by group or
 * others ((mode & 077) == 0). Otherwise FR_E_INVALID with a message naming
 * the path, its mode in octal and "chmod 600".
 */
fr_status fr__srv_key_file_check(const char *path, fr_error *err);

/* ---- addresses, Host and Origin ------------------------------------------------------ */

/*
 * Parses a --bind value: an IPv4 literal (inet_pton: four decimal parts, so
 * "999.1.1.1", "1.2.3" and "0x7f.1" are refused), an IPv6 literal with or
 * without [brackets] (no zone index), or "localhost" (any case; 127.0.0.1).
 * Writes the address with port 0 and its length; *loopback is 1 for
 * 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. FR_E_INVALID otherwise.
 */
fr_status fr__srv_parse_bind(const char *s, struct sockaddr_storage *addr, socklen_t *len,
                             int *loopback, fr_error *err);

/*
 * 1 if a request's Host header value (NULL: 0) names this server. It is
 * host[:port] or [IPv6]:port; the port, when there is a colon, must be 1 to 5
 * digits of 1-65535; a host that is not an IP literal must consist of
 * letters, digits, '.', '-' and '_'. The host (case-insensitive; IP literals
 * compared as addresses) must be: the bind address (bind: the --bind text,
 * brackets allowed, or NULL); or, when bind_loopback, "localhost", a
 * 127.0.0.0/8 literal or [::1] (or [::ffff:127.x.y.z]); or, when bind_any
 * (bound to 0.0.0.0 or ::), any IPv4 literal or bracketed IPv6 literal; or
 * one of allowed[] (host names without a port, case-insensitive). Anything
 * else (another name, "", a bare IPv6 literal, garbage) is 0: this is the
 * DNS rebinding defence.
 */
int fr__srv_host_allowed(const char *host, const char *bind, int bind_loopback, int bind_any,
                         const char *const *allowed, int n_allowed);

/*
 * 1 if a request's Origin header value may act on this server: NULL (no
 * Origin: curl, scripts), exactly "http://" + host (host: the request's Host
 * header value; scheme and host compared case-insensitively, the port must
 * be the same text), or one of allowed[] (case-insensitive). "null", another
 * scheme, another host or port, a trailing '/', and any whitespace, control
 * or non-ASCII byte are 0.
 */
int fr__srv_origin_allowed(const char *origin, const char *host, const char *const *allowed,
                           int n_allowed);

#endif

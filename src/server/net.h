/*
 * net.h - the server's network loop: one thread, epoll, non-blocking sockets
 * (prefix fr__net_).
 *
 * Why not a thread per connection (what civetweb did): an idle WebSocket or
 * a slowloris client then holds a thread, and a few dozen of them lock
 * every other client out. Here a connection is a small struct: thousands of
 * idle ones cost memory, never service. Every byte a client sends is judged
 * before it is stored (head size, Content-Length, WebSocket frame length),
 * every phase has a deadline, and the loop is the only code that touches a
 * socket: the pipeline workers hand their answers back through
 * fr__net_post, so a client that does not read can only fill its own,
 * bounded, output buffer.
 *
 * Threading: fr__net_start and fr__net_stop/free are called by the owner;
 * fr__net_post may be called from any thread; every other function takes a
 * connection and must be called on the loop thread, i.e. from inside one of
 * the callbacks.
 */
#ifndef FR_SERVER_NET_H
#define FR_SERVER_NET_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/internal.h"
#include "server/http.h"

typedef struct fr__net fr__net;
typedef struct fr__net_conn fr__net_conn;

typedef struct fr__net_config {
  struct sockaddr_storage addr; /* where to listen (port included) */
  socklen_t addr_len;
  int max_connections;   /* open connections in total */
  int max_per_address;   /* open connections from one remote address */
  int header_timeout_ms; /* a request head must arrive within this */
  int idle_timeout_ms;   /* a keep-alive connection may wait this long for its next request */
  int timeout_ms;        /* a body read or a response write may stall this long */
  int ws_ping_ms;        /* a silent WebSocket is pinged after this, closed after twice this */
  long long max_body;    /* bytes of one request body */
  long long max_frame;   /* bytes of one WebSocket message */
  long long max_buffered; /* bytes of request bodies held by all connections together */
  size_t ws_out_limit;   /* unsent bytes a WebSocket may hold before its messages are dropped */
} fr__net_config;

typedef struct fr__net_callbacks {
  void *app;
  /* A complete request; body (n bytes, decoded if it was chunked) stays
   * valid and untouched until the response is given. The app answers with
   * fr__net_respond, now or (after fr__net_hold) from `completed`. */
  void (*request)(void *app, fr__net_conn *c, const fr__http_head *h, uint8_t *body, size_t n);
  /* A complete binary or text WebSocket message (data valid during the call). */
  void (*ws_message)(void *app, fr__net_conn *c, int opcode, uint8_t *data, size_t n);
  /* An item given to fr__net_post, now on the loop thread. c may be closed
   * already (fr__net_is_open); the hold taken for it is the app's to release. */
  void (*completed)(void *app, fr__net_conn *c, void *item);
  /* The socket was just closed (the struct lives on while holds are taken):
   * work still queued for it can be dropped. May be NULL. */
  void (*closing)(void *app, fr__net_conn *c);
  /* The connection is being freed: no hold is left, no callback will name it again. */
  void (*closed)(void *app, fr__net_conn *c);
  /* The loop refused a request itself (malformed, too large, timed out,
   * over a connection limit): for the access log. */
  void (*refused)(void *app, const char *remote, int status, const char *why);
} fr__net_callbacks;

/* Opens the listener and starts the loop thread. */
fr_status fr__net_start(const fr__net_config *cfg, const fr__net_callbacks *cb, fr__net **out, fr_error *err);

/* The port the listener is bound to. */
int fr__net_port(const fr__net *n);

/* Hands an item to the loop thread, which passes it to cb.completed. Any thread. */
void fr__net_post(fr__net *n, fr__net_conn *c, void *item);

/*
 * Stops accepting, answers new requests with 503, lets requests in progress
 * finish and their answers be written, for at most grace_ms; then closes
 * every connection and ends the loop thread. Holds still taken then are
 * left to fr__net_free.
 */
void fr__net_stop(fr__net *n, int grace_ms);

/* Frees everything; posted items not yet delivered are passed to cb.completed
 * with the connection closed. NULL: no-op. */
void fr__net_free(fr__net *n);

/* ---- on the loop thread ---------------------------------------------------------------- */

/*
 * Answers the connection's request: status line, the security headers every
 * response carries (nosniff, frame denial, no referrer, a Content-Security-
 * Policy: `csp`, or one that allows nothing), `extra` header lines (each
 * ending in CRLF, may be NULL), Content-Type and Content-Length, then body
 * (left out for HEAD). close: close the connection after it.
 */
void fr__net_respond(fr__net_conn *c, int status, const char *content_type, const char *csp, const char *extra,
                     const void *body, size_t n, int close);

/* Accepts the connection's WebSocket handshake (101): from then on its
 * messages go to cb.ws_message. The request must have passed fr__net_ws_check. */
void fr__net_ws_upgrade(fr__net_conn *c);

/* 0 if the request is a well-formed WebSocket handshake, else an HTTP status
 * (400, 426) with a message in err. */
int fr__net_ws_check(const fr__http_head *h, fr_error *err);

/* Queues a WebSocket message. Returns 0, or -1 (nothing queued) when the
 * connection already holds ws_out_limit unsent bytes or is closed. */
int fr__net_ws_send(fr__net_conn *c, int opcode, const void *data, size_t n);

/* Sends a Close frame with this code and closes the connection once it is written. */
void fr__net_ws_close(fr__net_conn *c, int code, const char *reason);

/* 1 when a WebSocket's client has left so many answers unread that the
 * loop stopped reading its frames: the app drops the frames already read
 * too, with the same rule. */
int fr__net_ws_backlogged(const fr__net_conn *c);

/* Keeps the connection's struct alive while an item is in flight for it. */
void fr__net_hold(fr__net_conn *c);
void fr__net_release(fr__net_conn *c);

int fr__net_is_open(const fr__net_conn *c);
const char *fr__net_remote(const fr__net_conn *c);
void *fr__net_user(const fr__net_conn *c);
void fr__net_set_user(fr__net_conn *c, void *user);

/* Open WebSockets: in total, and from c's remote address. */
void fr__net_stream_counts(const fr__net_conn *c, int *total, int *same_address);

/* 1 while the server is stopping. */
int fr__net_draining(const fr__net_conn *c);

#endif

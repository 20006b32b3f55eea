/*
 * server.h - the recognition server behind `facerec serve` (prefix fr__srv_).
 *
 * An HTTP/1.1 + WebSocket server in front of one loaded pipeline and one
 * gallery. One network thread (src/server/net.c: epoll, non-blocking
 * sockets, every limit and deadline) reads requests, checks Host, Origin and
 * keys, and answers health, metrics, the page's files and every refusal
 * itself. The work (decoding, detection, description, gallery reads and
 * writes) runs on a fixed pool of `workers` threads, each owning its
 * fr_context, fed from a fixed pool of jobs: a request that finds every job
 * taken gets 503 at once instead of waiting. Workers never touch a socket:
 * they hand each answer back to the network thread. The gallery handle is
 * not thread-safe, so every gallery access (reads included) holds one mutex.
 *
 * Not part of libfacerec: built into libfrserver.a (see the Makefile).
 */
#ifndef FR_SERVER_SERVER_H
#define FR_SERVER_SERVER_H

#include <stdio.h>

#include "facerec.h"

#define FR_SRV_MAX_ALLOWED 16 /* --allowed-host and --allowed-origin values */

typedef struct fr__srv_config {
  const char *db_path;      /* the gallery file (created if missing, mode 0600) */
  const char *models;       /* model folder, NULL: fr_model_path order */
  const char *web_root;     /* folder served as static files at /, NULL: none */
  const char *bind;         /* address to listen on (an IP literal or localhost), default "127.0.0.1" */
  int port;                 /* 0: any free port (see fr__srv_port) */
  int workers;              /* pipeline threads, <= 0: one per CPU */
  int queue;                /* jobs waiting at most, <= 0: 4 * workers */
  long long max_body;       /* bytes of a request body, <= 0: 16 MiB */
  long long max_frame;      /* bytes of a WebSocket message, <= 0: 8 MiB */
  int timeout_ms;           /* a body read or answer write may stall this long, <= 0: 10000 */
  int header_timeout_ms;    /* a request head must arrive within this, <= 0: 10000 */
  int idle_timeout_ms;      /* an idle keep-alive connection is closed after this, <= 0: 60000 */
  int ws_ping_ms;           /* a silent stream is pinged after this, closed after twice it, <= 0: 30000 */
  int max_connections;      /* open connections, <= 0: 1024 */
  int max_per_address;      /* open connections from one address, <= 0: 128 */
  int max_streams;          /* open WebSockets, <= 0: 64 */
  int max_streams_per_address; /* open WebSockets from one address, <= 0: 16 */
  /* Authentication: exactly one of the three. */
  const char *api_key_file; /* "admin HEX"/"read HEX" lines; refused if group or others may read it */
  const char *admin_key;    /* one admin key, as the client sends it */
  int no_auth;              /* every route open: only with a loopback bind */
  /* Names besides the bound address that Host may carry, and origins
   * besides the server's own that may write and open streams (they also get
   * CORS answers). */
  char *allowed_hosts[FR_SRV_MAX_ALLOWED];
  int n_allowed_hosts;
  char *allowed_origins[FR_SRV_MAX_ALLOWED];
  int n_allowed_origins;
  FILE *access_log;         /* one JSON line per request (errors rate limited); NULL: none */
  fr_pipeline_options po;
} fr__srv_config;

/* Fills c with the defaults (po with fr_pipeline_options_default). */
void fr__srv_config_default(fr__srv_config *c);

typedef struct fr__srv fr__srv;

/* Loads the models and the gallery, starts the workers and the listener. */
fr_status fr__srv_start(const fr__srv_config *cfg, fr__srv **out, fr_error *err);

/* The TCP port the server listens on. */
int fr__srv_port(const fr__srv *s);

/* Stops accepting, lets every request and frame in progress finish (at most
 * a minute), stops the workers, closes the gallery and frees everything.
 * NULL: no-op. */
void fr__srv_stop(fr__srv *s);

#endif

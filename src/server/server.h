/*
 * server.h - the recognition server behind `facerec serve` (prefix fr__srv_).
 *
 * An HTTP/1.1 + WebSocket server (civetweb) in front of one loaded pipeline
 * and one gallery. civetweb's connection threads parse requests and check
 * keys; the CPU work (decoding, detection, description, gallery writes) runs
 * on a fixed pool of `workers` threads, each owning its fr_context, fed by a
 * bounded queue: a request that finds the queue full gets 503 at once
 * instead of waiting. The gallery handle is not thread-safe, so every gallery
 * access (reads included) holds one mutex.
 *
 * Not part of libfacerec: built into libfrserver.a, which links against
 * civetweb (see the Makefile).
 */
#ifndef FR_SERVER_SERVER_H
#define FR_SERVER_SERVER_H

#include <stdio.h>

#include "facerec.h"

typedef struct fr__srv_config {
  const char *db_path;      /* the gallery file (created if missing) */
  const char *models;       /* model folder, NULL: fr_model_path order */
  const char *web_root;     /* folder served as static files at /, NULL: none */
  const char *bind;         /* address to listen on, default "127.0.0.1" */
  int port;                 /* 0: any free port (see fr__srv_port) */
  int workers;              /* pipeline threads, <= 0: one per CPU */
  int queue;                /* jobs waiting at most, <= 0: 4 * workers */
  int io_threads;           /* civetweb connection threads, <= 0: 4 * workers + 16 */
  long long max_body;       /* bytes of a request body, <= 0: 16 MiB */
  long long max_frame;      /* bytes of a WebSocket message, <= 0: 8 MiB */
  int timeout_ms;           /* socket read/write timeout, <= 0: 10000 */
  const char *api_key_file; /* NULL: no keys, every route open (a warning is printed) */
  FILE *access_log;         /* one JSON line per API request; NULL: none */
  fr_pipeline_options po;
} fr__srv_config;

/* Fills c with the defaults (po with fr_pipeline_options_default). */
void fr__srv_config_default(fr__srv_config *c);

typedef struct fr__srv fr__srv;

/* Loads the models and the gallery, starts the workers and the listener. */
fr_status fr__srv_start(const fr__srv_config *cfg, fr__srv **out, fr_error *err);

/* The TCP port the server listens on. */
int fr__srv_port(const fr__srv *s);

/* Stops accepting, lets every request and frame in progress finish, stops
 * the workers, closes the gallery and frees everything. NULL: no-op. */
void fr__srv_stop(fr__srv *s);

#endif

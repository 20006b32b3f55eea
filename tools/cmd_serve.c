/*
 * cmd_serve.c - `facerec serve`: the HTTP/WebSocket recognition server
 * (src/server/). Parses the options, starts the server, and waits for
 * SIGTERM or SIGINT, on which it stops accepting and finishes the requests
 * in progress before exiting.
 */
#include "cli.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "server/server.h"

const char fr_cli_serve_usage[] =
    "  serve --db G.db            HTTP + WebSocket recognition server and web page\n"
    "                             (--port P, --bind ADDR, --threads N, --queue N,\n"
    "                             --api-key-file F, --web DIR, --access-log FILE,\n"
    "                             --max-body BYTES)\n";

int fr_cli_serve(int argc, char **argv) {
  fr__srv_config cfg;
  fr__srv_config_default(&cfg);
  const char *log_path = NULL;
  int web_given = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) return cli_die("serve: option %s needs a value (or is not an option)", a);
    i++;
    int ok = 1, n;
    if (strcmp(a, "--db") == 0) cfg.db_path = v;
    else if (strcmp(a, "--models") == 0) cfg.models = v;
    else if (strcmp(a, "--web") == 0) cfg.web_root = v, web_given = 1;
    else if (strcmp(a, "--bind") == 0) cfg.bind = v;
    else if (strcmp(a, "--api-key-file") == 0) cfg.api_key_file = v;
    else if (strcmp(a, "--access-log") == 0) log_path = v;
    else if (strcmp(a, "--port") == 0) ok = cli_parse_int(v, 0, 65535, &cfg.port);
    else if (strcmp(a, "--threads") == 0) ok = cli_parse_int(v, 1, 256, &cfg.workers);
    else if (strcmp(a, "--queue") == 0) ok = cli_parse_int(v, 1, 100000, &cfg.queue);
    else if (strcmp(a, "--max-body") == 0) {
      ok = cli_parse_int(v, 1024, 1 << 30, &n);
      cfg.max_body = n;
    } else if (strcmp(a, "--detector") == 0) {
      if (strcmp(v, "ssd") == 0) cfg.po.detector = FR_DETECTOR_SSD;
      else if (strcmp(v, "tiny") == 0) cfg.po.detector = FR_DETECTOR_TINY;
      else ok = 0;
    } else return cli_die("serve: unknown option %s", a);
    if (!ok) return cli_die("serve: bad value '%s' for %s", v, a);
  }
  if (!cfg.db_path) return cli_die("usage: facerec serve --db G.db [--port 8080] [--threads N] [--api-key-file F]");
  /* The page is served from ./web when run from a checkout and no --web is
   * given. */
  struct stat st;
  if (!web_given && stat("web/index.html", &st) == 0) cfg.web_root = "web";
  FILE *log = stderr;
  if (log_path && strcmp(log_path, "-") != 0) {
    log = fopen(log_path, "a");
    if (!log) return cli_die("serve: cannot open %s", log_path);
  }
  cfg.access_log = log;
  if (!cfg.api_key_file)
    fprintf(stderr, "facerec serve: warning: no --api-key-file: every route is open to anyone "
                    "who can reach %s\n", cfg.bind);
  /* Blocked before any thread starts, so that every thread inherits the mask
   * and the signals are taken only by sigwait below. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  fr__srv *s = NULL;
  fr_error err = {0};
  if (fr__srv_start(&cfg, &s, &err) != FR_OK) {
    if (log != stderr) fclose(log);
    return cli_die("serve: %s", err.message);
  }
  fprintf(stderr, "facerec serve: listening on http://%s:%d/ (%s)\n", cfg.bind, fr__srv_port(s),
          cfg.web_root ? "web page and API" : "API only");
  fflush(stderr);
  int sig = 0;
  sigwait(&set, &sig);
  fprintf(stderr, "facerec serve: %s: finishing the requests in progress\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  fr__srv_stop(s);
  fprintf(stderr, "facerec serve: stopped\n");
  if (log != stderr) fclose(log);
  return 0;
}

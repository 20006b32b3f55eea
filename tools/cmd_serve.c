/*
 * cmd_serve.c - `facerec serve`: the HTTP/WebSocket recognition server
 * (src/server/). Parses the options, settles authentication, starts the
 * server, and waits for SIGTERM or SIGINT, on which it stops accepting and
 * finishes the requests in progress before exiting.
 *
 * Secure by default: without --api-key-file the server still wants a key,
 * a random admin key kept in G.db.key (mode 0600) and printed once when it
 * is made, as Jupyter prints its token. Running with no key at all is the
 * explicit --no-auth, which only binds a loopback address.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/parse.h"
#include "server/server.h"

const char fr_cli_serve_usage[] =
    "  serve --db G.db            HTTP + WebSocket recognition server and web page\n"
    "                             (--port P, --bind ADDR, --threads N, --queue N,\n"
    "                             --api-key-file F | --no-auth, --web DIR,\n"
    "                             --access-log FILE, --max-body BYTES, --max-frame BYTES,\n"
    "                             --max-connections N, --max-per-address N,\n"
    "                             --max-streams N, --max-streams-per-address N,\n"
    "                             --header-timeout-ms N, --idle-timeout-ms N,\n"
    "                             --timeout-ms N, --ws-ping-ms N,\n"
    "                             --allowed-host NAME, --allowed-origin ORIGIN)\n";

/* Reads the admin key kept beside the gallery, or makes one. 0 on success. */
static int settle_key(const char *db, char *key, size_t size) {
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s.key", db) >= sizeof path) return cli_die("serve: the --db path is too long");
  fr_error err = {0};
  FILE *f = fopen(path, "r");
  if (f) {
    fclose(f);
    if (fr__srv_key_file_check(path, &err) != FR_OK) return cli_die("serve: %s", err.message);
    f = fopen(path, "r");
    if (!f || !fgets(key, (int)size, f)) {
      if (f) fclose(f);
      return cli_die("serve: cannot read the key in %s", path);
    }
    fclose(f);
    key[strcspn(key, "\r\n")] = '\0';
    if (strlen(key) < 16) return cli_die("serve: %s holds no usable key (delete it to make a new one)", path);
    fprintf(stderr, "facerec serve: the admin key is in %s\n", path);
    return 0;
  }
  uint8_t raw[32];
  int rnd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  int ok = rnd >= 0 && read(rnd, raw, sizeof raw) == (ssize_t)sizeof raw;
  if (rnd >= 0) close(rnd);
  if (!ok) return cli_die("serve: cannot read /dev/urandom to make a key");
  for (size_t i = 0; i < sizeof raw && 2 * i + 2 < size; i++) snprintf(key + 2 * i, 3, "%02x", raw[i]);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return cli_die("serve: cannot create %s: %s", path, strerror(errno));
  size_t n = strlen(key);
  int wrote = write(fd, key, n) == (ssize_t)n && write(fd, "\n", 1) == 1;
  if (close(fd) != 0 || !wrote) return cli_die("serve: cannot write %s", path);
  fprintf(stderr, "facerec serve: admin key (saved in %s): %s\n", path, key);
  return 0;
}

/* Lets the server hold as many connections as it was told to. */
static void raise_fd_limit(int want) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rlim_t need = (rlim_t)want + 64;
  if (rl.rlim_cur >= need) return;
  rl.rlim_cur = need < rl.rlim_max ? need : rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

int fr_cli_serve(int argc, char **argv) {
  fr__srv_config cfg;
  fr__srv_config_default(&cfg);
  const char *log_path = NULL;
  int web_given = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--no-auth") == 0) {
      cfg.no_auth = 1;
      continue;
    }
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
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
    else if (strcmp(a, "--max-connections") == 0) ok = cli_parse_int(v, 1, 1000000, &cfg.max_connections);
    else if (strcmp(a, "--max-per-address") == 0) ok = cli_parse_int(v, 1, 1000000, &cfg.max_per_address);
    else if (strcmp(a, "--max-streams") == 0) ok = cli_parse_int(v, 1, 1000000, &cfg.max_streams);
    else if (strcmp(a, "--max-streams-per-address") == 0) ok = cli_parse_int(v, 1, 1000000, &cfg.max_streams_per_address);
    else if (strcmp(a, "--header-timeout-ms") == 0) ok = cli_parse_int(v, 100, 3600000, &cfg.header_timeout_ms);
    else if (strcmp(a, "--idle-timeout-ms") == 0) ok = cli_parse_int(v, 100, 3600000, &cfg.idle_timeout_ms);
    else if (strcmp(a, "--timeout-ms") == 0) ok = cli_parse_int(v, 100, 3600000, &cfg.timeout_ms);
    else if (strcmp(a, "--ws-ping-ms") == 0) ok = cli_parse_int(v, 100, 3600000, &cfg.ws_ping_ms);
    else if (strcmp(a, "--allowed-host") == 0 || strcmp(a, "--allowed-origin") == 0) {
      int host = a[10] == 'h';
      int *cnt = host ? &cfg.n_allowed_hosts : &cfg.n_allowed_origins;
      if (*cnt >= FR_SRV_MAX_ALLOWED) return cli_die("serve: at most %d %s values", FR_SRV_MAX_ALLOWED, a);
      (host ? cfg.allowed_hosts : cfg.allowed_origins)[(*cnt)++] = (char *)v;
    } else if (strcmp(a, "--max-body") == 0) {
      ok = cli_parse_int(v, 1024, 1 << 30, &n);
      cfg.max_body = n;
    } else if (strcmp(a, "--max-frame") == 0) {
      ok = cli_parse_int(v, 1024, 1 << 30, &n);
      cfg.max_frame = n;
    } else if (strcmp(a, "--detector") == 0) {
      ok = cli_parse_detector_file(v, &cfg.po);
    } else if (strcmp(a, "--model") == 0) {
      ok = cli_parse_model(v, &cfg.po);
    } else return cli_die("serve: unknown option %s", a);
    if (!ok) return cli_die("serve: bad value '%s' for %s", v, a);
  }
  if (!cfg.db_path)
    return cli_die("usage: facerec serve --db G.db [--port 8080] [--threads N] [--api-key-file F | --no-auth]");
  struct sockaddr_storage sa;
  socklen_t sl;
  int loopback = 0;
  fr_error err = {0};
  /* The server parses it again; checked here first so that a bad address
   * fails before G.db.key is made. (--no-auth's rules are the server's:
   * with it no key file is made.) */
  if (fr__srv_parse_bind(cfg.bind, &sa, &sl, &loopback, &err) != FR_OK) return cli_die("serve: --bind: %s", err.message);
  /* The gallery, its log, the key and the access log hold biometric data
   * and secrets: nothing this process creates is for other users. */
  umask(077);
  char key[80];
  if (!cfg.no_auth && !cfg.api_key_file) {
    if (settle_key(cfg.db_path, key, sizeof key) != 0) return 2;
    cfg.admin_key = key;
  }
  /* The page is served from ./web when run from a checkout and no --web is
   * given. */
  struct stat st;
  if (!web_given && stat("web/index.html", &st) == 0) cfg.web_root = "web";
  FILE *log = stderr;
  if (log_path && strcmp(log_path, "-") != 0) {
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    log = fd >= 0 ? fdopen(fd, "a") : NULL;
    if (!log) return cli_die("serve: cannot open %s", log_path);
  }
  cfg.access_log = log;
  raise_fd_limit(cfg.max_connections > 0 ? cfg.max_connections : 1024);
  /* Blocked before any thread starts, so that every thread inherits the mask
   * and the signals are taken only by sigwait below. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  fr__srv *s = NULL;
  if (fr__srv_start(&cfg, &s, &err) != FR_OK) {
    if (log != stderr) fclose(log);
    return cli_die("serve: %s", err.message);
  }
  if (cfg.no_auth)
    fprintf(stderr, "facerec serve: --no-auth: every route is open to anyone on this machine "
                    "(loopback only)\n");
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

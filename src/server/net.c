/*
 * net.c - the network loop (see net.h for why it is one epoll thread).
 *
 * A connection moves through these states:
 *   HEAD     waiting for a request head (deadline: idle, then header timeout)
 *   BODY     reading the body the head announced (deadline: no progress)
 *   APP      the app has the request; nothing is read (no deadline: the
 *            worker queue is bounded, so the wait is)
 *   WRITING  the answer is being written (deadline: no progress)
 *   WS       a WebSocket: frames in, messages out (deadline: ping, then close)
 *   LINGER   answered and half-closed; input is read and dropped for a moment
 *            so that unread request bytes do not turn our FIN into an RST
 *            that would destroy the answer before the client reads it
 * Level-triggered epoll; the interest set follows the state, so a
 * connection the loop is not reading from never wakes it.
 */
#define _GNU_SOURCE
#include "server/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "server/ws.h"

enum { ST_HEAD, ST_BODY, ST_APP, ST_WRITING, ST_WS, ST_LINGER };

#define READ_CHUNK (64 * 1024)
#define LINGER_MS 2000

struct fr__net_conn {
  fr__net *net;
  fr__net_conn *prev, *next;
  int fd, state, holds, dead, close_after, is_head, ws_closing;
  unsigned events; /* the epoll interest set now registered */
  uint8_t addr[16];
  char remote[INET6_ADDRSTRLEN];
  /* input */
  uint8_t *in;
  size_t in_len, in_cap;
  fr__http_head *head; /* allocated at the first complete head, reused */
  size_t head_len, req_len;
  long long body_need; /* BODY with Content-Length: bytes of body wanted */
  int chunked;
  fr__http_chunked ch;
  size_t reserved; /* bytes counted in the net's body budget */
  /* output */
  uint8_t *out;
  size_t out_len, out_off, out_cap;
  /* WebSocket */
  uint8_t *msg; /* a fragmented message being assembled */
  size_t msg_len, msg_cap;
  int msg_opcode, ping_sent;
  /* time */
  int64_t deadline, last_rx;
  void *user;
};

typedef struct post_item {
  fr__net_conn *c;
  void *item;
} post_item;

struct fr__net {
  fr__net_config cfg;
  fr__net_callbacks cb;
  int lfd, epfd, evfd, port;
  pthread_t thread;
  int started;
  fr__net_conn *conns; /* every connection not yet freed */
  int n_open;
  long long buffered;
  int draining, stop_asked;
  int64_t stop_deadline;
  /* posted items, from any thread */
  pthread_mutex_t mu;
  post_item *posts, *spare; /* filled by fr__net_post; the loop's own copy */
  size_t n_posts, cap_posts, cap_spare;
};

static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- buffers ---------------------------------------------------------------------------- */

static int grow(uint8_t **p, size_t *cap, size_t need) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 4096;
  while (c < need) c *= 2;
  uint8_t *q = realloc(*p, c);
  if (!q) return -1;
  *p = q, *cap = c;
  return 0;
}

static int out_append(fr__net_conn *c, const void *p, size_t n) {
  if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
  if (grow(&c->out, &c->out_cap, c->out_len + n)) return -1;
  memcpy(c->out + c->out_len, p, n);
  c->out_len += n;
  return 0;
}

/* ---- connection life ---------------------------------------------------------------------- */

/* A stream whose client does not read its answers is not read either: its
 * frames wait in TCP, where they cost us nothing, until it catches up. */
static int ws_backlogged(const fr__net_conn *c) {
  return c->state == ST_WS && c->out_len - c->out_off >= c->net->cfg.ws_out_limit / 8;
}

static void set_events(fr__net_conn *c) {
  if (c->fd < 0) return;
  unsigned ev = 0;
  if (c->state == ST_HEAD || c->state == ST_BODY || c->state == ST_LINGER || (c->state == ST_WS && !ws_backlogged(c)))
    ev |= EPOLLIN;
  if (c->out_off < c->out_len) ev |= EPOLLOUT;
  /* A stream we stopped reading must still notice its client leaving. */
  if (c->state == ST_WS) ev |= EPOLLRDHUP;
  if (ev == c->events) return;
  struct epoll_event e = {.events = ev, .data.ptr = c};
  epoll_ctl(c->net->epfd, EPOLL_CTL_MOD, c->fd, &e);
  c->events = ev;
}

static void unreserve(fr__net_conn *c) {
  c->net->buffered -= (long long)c->reserved;
  c->reserved = 0;
}

/* Closes the socket now; the struct lives on while holds are taken. */
static void conn_close(fr__net_conn *c) {
  if (c->fd < 0) return;
  epoll_ctl(c->net->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
  c->dead = 1;
  c->net->n_open--;
  unreserve(c);
  if (c->net->cb.closing) c->net->cb.closing(c->net->cb.app, c);
}

static void conn_free(fr__net_conn *c) {
  fr__net *n = c->net;
  if (n->cb.closed) n->cb.closed(n->cb.app, c);
  if (c->prev) c->prev->next = c->next;
  else n->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  free(c->in);
  free(c->out);
  free(c->msg);
  free(c->head);
  free(c);
}

/* Frees the connections that are closed and no longer held. */
static void sweep(fr__net *n) {
  fr__net_conn *c = n->conns;
  while (c) {
    fr__net_conn *next = c->next;
    if (c->dead && c->holds == 0) conn_free(c);
    c = next;
  }
}

static void refuse_log(fr__net_conn *c, int status, const char *why) {
  if (c->net->cb.refused) c->net->cb.refused(c->net->cb.app, c->remote, status, why);
}

static const char *reason(int code) {
  switch (code) {
  case 100: return "Continue";
  case 101: return "Switching Protocols";
  case 200: return "OK";
  case 201: return "Created";
  case 204: return "No Content";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 413: return "Payload Too Large";
  case 414: return "URI Too Long";
  case 415: return "Unsupported Media Type";
  case 417: return "Expectation Failed";
  case 422: return "Unprocessable Entity";
  case 426: return "Upgrade Required";
  case 431: return "Request Header Fields Too Large";
  case 501: return "Not Implemented";
  case 503: return "Service Unavailable";
  case 505: return "HTTP Version Not Supported";
  default: return "Internal Server Error";
  }
}

/* The headers every answer carries: the API is JSON for programs, the page
 * sets its own policy, and nothing of ours may be framed or sniffed. */
static const char security_headers[] = "X-Content-Type-Options: nosniff\r\n"
                                       "X-Frame-Options: DENY\r\n"
                                       "Referrer-Policy: no-referrer\r\n"
                                       "Cross-Origin-Resource-Policy: same-origin\r\n";
static const char default_csp[] = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

void fr__net_respond(fr__net_conn *c, int status, const char *content_type, const char *csp, const char *extra,
                     const void *body, size_t n, int close) {
  if (c->fd < 0 || c->state != ST_APP) return;
  if (c->net->draining || !c->head || !c->head->keep_alive) close = 1;
  char h[1024];
  int k = snprintf(h, sizeof h,
                   "HTTP/1.1 %d %s\r\n%sContent-Security-Policy: %s\r\nContent-Type: %s\r\n"
                   "Content-Length: %zu\r\n%s",
                   status, reason(status), security_headers, csp ? csp : default_csp,
                   content_type ? content_type : "application/json", n,
                   close ? "Connection: close\r\n" : "");
  if (k < 0 || (size_t)k >= sizeof h) k = 0;
  int fail = out_append(c, h, (size_t)k);
  if (!fail && extra) fail = out_append(c, extra, strlen(extra));
  if (!fail) fail = out_append(c, "\r\n", 2);
  if (!fail && n && !c->is_head) fail = out_append(c, body, n);
  if (fail) {
    conn_close(c);
    return;
  }
  c->close_after = close;
  c->state = ST_WRITING;
  c->deadline = now_ms() + c->net->cfg.timeout_ms;
}

/* An error the loop answers itself, before or instead of the app. The
 * connection is closed after it: what follows the bad request cannot be
 * trusted to be framed the way the client meant. */
static void respond_error(fr__net_conn *c, int status, const char *code, const char *msg) {
  char body[512], esc[300];
  size_t k = 0;
  for (const char *p = msg; *p && k + 7 < sizeof esc; p++) {
    unsigned char ch = (unsigned char)*p;
    if (ch == '"' || ch == '\\') esc[k++] = '\\', esc[k++] = (char)ch;
    else if (ch >= 0x20) esc[k++] = (char)ch;
  }
  esc[k] = '\0';
  int n = snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, esc);
  c->state = ST_APP;
  refuse_log(c, status, msg);
  fr__net_respond(c, status, "application/json", NULL, NULL, body, (size_t)n, 1);
}

/* Writes what is queued; 0 when all of it went, 1 when the socket is full,
 * -1 when the connection failed. */
static int flush_out(fr__net_conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (w > 0) {
      c->out_off += (size_t)w;
      if (c->state == ST_WRITING) c->deadline = now_ms() + c->net->cfg.timeout_ms;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 1;
    return -1;
  }
  c->out_off = c->out_len = 0;
  /* A large answer's buffer is not kept by an idle connection. */
  if (c->out_cap > (1u << 20)) {
    free(c->out);
    c->out = NULL, c->out_cap = 0;
  }
  return 0;
}

static void start_head(fr__net_conn *c) {
  c->state = ST_HEAD;
  c->deadline = now_ms() + (c->in_len ? c->net->cfg.header_timeout_ms : c->net->cfg.idle_timeout_ms);
  c->chunked = 0, c->body_need = 0, c->req_len = 0, c->head_len = 0;
  memset(&c->ch, 0, sizeof c->ch);
}

/* Drops the first k input bytes (a request or frame dealt with). */
static void consume(fr__net_conn *c, size_t k) {
  if (k > c->in_len) k = c->in_len;
  memmove(c->in, c->in + k, c->in_len - k);
  c->in_len -= k;
  if (c->in_cap > (1u << 20) && c->in_len < 4096) {
    uint8_t *p = realloc(c->in, 4096);
    if (p) c->in = p, c->in_cap = 4096;
  }
}

/* The answer is written: close, or wait for the next request. */
static void finish_response(fr__net_conn *c) {
  unreserve(c);
  if (c->close_after) {
    shutdown(c->fd, SHUT_WR);
    c->state = ST_LINGER;
    c->in_len = 0;
    c->deadline = now_ms() + LINGER_MS;
    return;
  }
  consume(c, c->req_len);
  start_head(c);
}

static void deliver(fr__net_conn *c, uint8_t *body, size_t n) {
  fr__net *net = c->net;
  c->state = ST_APP;
  c->is_head = strcmp(c->head->method, "HEAD") == 0;
  if (net->draining) {
    respond_error(c, 503, "shutting_down", "the server is shutting down");
    return;
  }
  net->cb.request(net->cb.app, c, c->head, body, n);
}

/* Tries to complete a request from the bytes in hand. */
static void parse_request(fr__net_conn *c) {
  fr__net *net = c->net;
  if (c->state == ST_HEAD) {
    if (c->in_len == 0) return;
    if (!c->head && !(c->head = malloc(sizeof *c->head))) {
      conn_close(c);
      return;
    }
    int status;
    fr_error err = {0};
    int k = fr__http_parse_head((const char *)c->in, c->in_len, c->head, &status, &err);
    if (k == 0) {
      /* The clock for the whole head starts at its first byte. */
      int64_t limit = c->last_rx + net->cfg.header_timeout_ms;
      if (c->deadline > limit) c->deadline = limit;
      return;
    }
    if (k < 0) {
      c->head->keep_alive = 0;
      return respond_error(c, status, status == 431 || status == 414 ? "too_large" : "malformed", err.message);
    }
    c->head_len = (size_t)k;
    fr__http_head *h = c->head;
    if (h->content_length > net->cfg.max_body)
      return respond_error(c, 413, "too_large", "the body is larger than the server accepts");
    size_t want = h->chunked ? READ_CHUNK : (size_t)(h->content_length > 0 ? h->content_length : 0);
    if (net->buffered + (long long)want > net->cfg.max_buffered)
      return respond_error(c, 503, "overloaded", "the server holds too many request bodies; retry later");
    c->reserved = want;
    net->buffered += (long long)want;
    c->chunked = h->chunked;
    c->body_need = h->chunked ? 0 : (h->content_length > 0 ? h->content_length : 0);
    c->state = ST_BODY;
    c->deadline = now_ms() + net->cfg.timeout_ms;
    if (h->expect_continue && (c->chunked || c->body_need > 0) &&
        (size_t)c->body_need + c->head_len > c->in_len) {
      static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
      if (out_append(c, cont, sizeof cont - 1)) return conn_close(c);
    }
  }
  if (c->state != ST_BODY) return;
  if (c->chunked) {
    fr_error err = {0};
    int r = fr__http_chunked_step(&c->ch, c->in + c->head_len, c->in_len - c->head_len,
                                  (size_t)net->cfg.max_body, &err);
    if (r < 0) return respond_error(c, err.status == FR_E_LIMIT ? 413 : 400, "malformed", err.message);
    /* The decoded body sits at the start of the buffer's body part; what
     * follows the raw chunked body (a pipelined request) is moved after it. */
    size_t raw_end = c->head_len + c->ch.in, dec_end = c->head_len + c->ch.out;
    if (raw_end > dec_end) {
      memmove(c->in + dec_end, c->in + raw_end, c->in_len - raw_end);
      c->in_len -= raw_end - dec_end;
      c->ch.in = c->ch.out;
    }
    if (r == 0) return;
    c->req_len = dec_end;
    return deliver(c, c->in + c->head_len, c->ch.out);
  }
  if ((long long)(c->in_len - c->head_len) < c->body_need) return;
  c->req_len = c->head_len + (size_t)c->body_need;
  deliver(c, c->in + c->head_len, (size_t)c->body_need);
}

/* ---- WebSocket ------------------------------------------------------------------------------ */

int fr__net_ws_check(const fr__http_head *h, fr_error *err) {
  if (strcmp(h->method, "GET") != 0) return fr__fail(err, FR_E_INVALID, "a WebSocket handshake must be a GET"), 400;
  if (!h->upgrade_websocket)
    return fr__fail(err, FR_E_INVALID, "this route is a WebSocket: send Upgrade: websocket"), 426;
  if (h->ws_version != 13) return fr__fail(err, FR_E_INVALID, "only WebSocket version 13 is spoken"), 426;
  if (!fr__ws_key_valid(h->ws_key)) return fr__fail(err, FR_E_INVALID, "a malformed Sec-WebSocket-Key"), 400;
  if (h->content_length > 0 || h->chunked) return fr__fail(err, FR_E_INVALID, "a handshake with a body"), 400;
  return 0;
}

void fr__net_ws_upgrade(fr__net_conn *c) {
  if (c->fd < 0 || c->state != ST_APP) return;
  char accept[29], h[512];
  fr__ws_accept(c->head->ws_key, accept);
  int k = snprintf(h, sizeof h,
                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
  if (out_append(c, h, (size_t)k)) return conn_close(c);
  unreserve(c);
  consume(c, c->req_len);
  c->state = ST_WS;
  /* Answers are small: a modest socket buffer makes a client that stops
   * reading visible (its unsent answers grow) after a few hundred of them
   * instead of after megabytes. */
  int sndbuf = 64 * 1024;
  setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  c->last_rx = now_ms();
  c->deadline = c->last_rx + c->net->cfg.ws_ping_ms;
}

static int ws_frame(fr__net_conn *c, int opcode, const void *data, size_t n) {
  uint8_t head[10];
  size_t k = fr__ws_frame_head(head, opcode, n);
  if (out_append(c, head, k) || (n && out_append(c, data, n))) return -1;
  return 0;
}

int fr__net_ws_send(fr__net_conn *c, int opcode, const void *data, size_t n) {
  if (c->fd < 0 || c->state != ST_WS || c->ws_closing) return -1;
  if (c->out_len - c->out_off + n > c->net->cfg.ws_out_limit) return -1;
  if (ws_frame(c, opcode, data, n)) return -1;
  return 0;
}

void fr__net_ws_close(fr__net_conn *c, int code, const char *why) {
  if (c->fd < 0 || c->state != ST_WS || c->ws_closing) return;
  uint8_t p[125];
  size_t n = why ? strnlen(why, sizeof p - 2) : 0;
  p[0] = (uint8_t)(code >> 8), p[1] = (uint8_t)code;
  if (n) memcpy(p + 2, why, n);
  ws_frame(c, FR_WS_CLOSE, p, n + 2);
  c->ws_closing = 1;
  c->deadline = now_ms() + LINGER_MS;
}

/* Reads the frames in hand; a frame is acted on once all of it is here. */
static void parse_frames(fr__net_conn *c) {
  fr__net *net = c->net;
  while (c->fd >= 0 && c->state == ST_WS && !c->ws_closing) {
    fr__ws_header h;
    fr_error err = {0};
    int k = fr__ws_parse_header(c->in, c->in_len, &h, &err);
    if (k == 0) return;
    if (k < 0) return fr__net_ws_close(c, FR_WS_CLOSE_PROTOCOL, err.message);
    /* The length is judged here, from the header: nothing of an oversized
     * message is stored. */
    int data = h.opcode < 8;
    if (data && (h.len > (uint64_t)net->cfg.max_frame || c->msg_len + h.len > (uint64_t)net->cfg.max_frame))
      return fr__net_ws_close(c, FR_WS_CLOSE_TOO_BIG, "the message is larger than the server accepts");
    if (c->in_len < (size_t)k + h.len) return;
    uint8_t *p = c->in + k;
    size_t n = (size_t)h.len;
    fr__ws_unmask(p, n, h.mask, 0);
    c->last_rx = now_ms();
    c->ping_sent = 0;
    c->deadline = c->last_rx + net->cfg.ws_ping_ms;
    switch (h.opcode) {
    case FR_WS_PING:
      if (c->out_len - c->out_off < net->cfg.ws_out_limit) ws_frame(c, FR_WS_PONG, p, n);
      break;
    case FR_WS_PONG: break;
    case FR_WS_CLOSE: {
      /* Echo the client's code, as RFC 6455 asks, then close. */
      int code = n >= 2 ? p[0] << 8 | p[1] : FR_WS_CLOSE_NORMAL;
      consume(c, (size_t)k + n);
      fr__net_ws_close(c, code >= 1000 && code < 5000 ? code : FR_WS_CLOSE_PROTOCOL, NULL);
      return;
    }
    default:
      if (h.opcode == FR_WS_CONT && !c->msg_opcode) return fr__net_ws_close(c, FR_WS_CLOSE_PROTOCOL, "a continuation of nothing");
      if (h.opcode != FR_WS_CONT && c->msg_opcode)
        return fr__net_ws_close(c, FR_WS_CLOSE_PROTOCOL, "a new message inside a fragmented one");
      if (h.fin && h.opcode != FR_WS_CONT) {
        net->cb.ws_message(net->cb.app, c, h.opcode, p, n);
      } else {
        if (grow(&c->msg, &c->msg_cap, c->msg_len + n)) return conn_close(c);
        memcpy(c->msg + c->msg_len, p, n);
        c->msg_len += n;
        if (h.opcode != FR_WS_CONT) c->msg_opcode = h.opcode;
        if (h.fin) {
          net->cb.ws_message(net->cb.app, c, c->msg_opcode, c->msg, c->msg_len);
          c->msg_len = 0, c->msg_opcode = 0;
          if (c->msg_cap > (1u << 20)) free(c->msg), c->msg = NULL, c->msg_cap = 0;
        }
      }
    }
    if (c->fd < 0) return;
    consume(c, (size_t)k + n);
  }
}

/* ---- the loop ---------------------------------------------------------------------------------- */

/* How many more input bytes the connection may store now. */
static size_t read_room(fr__net_conn *c) {
  fr__net *n = c->net;
  size_t limit;
  switch (c->state) {
  case ST_HEAD: limit = FR_HTTP_MAX_HEAD + 1; break;
  case ST_BODY:
    limit = c->chunked ? c->head_len + (size_t)n->cfg.max_body + READ_CHUNK : c->head_len + (size_t)c->body_need;
    break;
  case ST_WS: {
    if (ws_backlogged(c)) return 0;
    /* A frame's header says how much to expect; before it, a header's worth. */
    fr__ws_header h;
    int k = fr__ws_parse_header(c->in, c->in_len, &h, NULL);
    limit = k > 0 ? (size_t)k + (size_t)h.len : 14;
    if (limit < READ_CHUNK) limit = READ_CHUNK;
    break;
  }
  case ST_LINGER: return READ_CHUNK;
  default: return 0;
  }
  return c->in_len < limit ? limit - c->in_len : 0;
}

static void on_readable(fr__net_conn *c) {
  size_t room = read_room(c);
  if (room == 0) return;
  if (room > READ_CHUNK) room = READ_CHUNK;
  if (c->state == ST_LINGER) {
    uint8_t sink[4096];
    ssize_t r = recv(c->fd, sink, sizeof sink, 0);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) conn_close(c);
    return;
  }
  if (grow(&c->in, &c->in_cap, c->in_len + room)) return conn_close(c);
  ssize_t r = recv(c->fd, c->in + c->in_len, room, 0);
  if (r == 0) return conn_close(c);
  if (r < 0) {
    if (errno != EAGAIN && errno != EINTR) conn_close(c);
    return;
  }
  c->in_len += (size_t)r;
  c->last_rx = now_ms();
  if (c->state == ST_BODY) c->deadline = c->last_rx + c->net->cfg.timeout_ms;
}

/* Moves a connection as far as the bytes in hand allow. A blocked socket
 * stops an HTTP answer, never a stream's reading: its frames are still read
 * (and, past the backlog, no longer taken from the socket at all). */
static void run(fr__net_conn *c) {
  for (int guard = 0; guard < 64 && c->fd >= 0; guard++) {
    int st = c->state;
    size_t in0 = c->in_len, out0 = c->out_len - c->out_off;
    if (c->out_off < c->out_len && flush_out(c) < 0) return conn_close(c);
    int blocked = c->out_off < c->out_len;
    if (c->state == ST_WRITING) {
      if (!blocked) finish_response(c);
    } else if (c->state == ST_WS && c->ws_closing) {
      if (!blocked) {
        shutdown(c->fd, SHUT_WR);
        c->state = ST_LINGER;
        c->in_len = 0;
        c->deadline = now_ms() + LINGER_MS;
      }
    } else if (c->state == ST_HEAD || c->state == ST_BODY) {
      parse_request(c);
    } else if (c->state == ST_WS) {
      parse_frames(c);
    }
    if (c->fd < 0) return;
    if (c->state == st && c->in_len == in0 && c->out_len - c->out_off == out0) break;
  }
  set_events(c);
}

static int same_addr(const fr__net_conn *a, const uint8_t addr[16]) { return memcmp(a->addr, addr, 16) == 0; }

static void accept_all(fr__net *n) {
  for (int k = 0; k < 256; k++) {
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    int fd = accept4(n->lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    uint8_t addr[16] = {0};
    char remote[INET6_ADDRSTRLEN] = "?";
    if (sa.ss_family == AF_INET) {
      struct sockaddr_in *a = (struct sockaddr_in *)&sa;
      addr[10] = addr[11] = 0xff;
      memcpy(addr + 12, &a->sin_addr, 4);
      inet_ntop(AF_INET, &a->sin_addr, remote, sizeof remote);
    } else if (sa.ss_family == AF_INET6) {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)&sa;
      memcpy(addr, &a->sin6_addr, 16);
      inet_ntop(AF_INET6, &a->sin6_addr, remote, sizeof remote);
    }
    int same = 0;
    for (fr__net_conn *c = n->conns; c; c = c->next)
      if (c->fd >= 0 && same_addr(c, addr)) same++;
    const char *why = NULL;
    if (n->n_open >= n->cfg.max_connections) why = "too many connections";
    else if (same >= n->cfg.max_per_address) why = "too many connections from this address";
    else if (n->draining) why = "the server is shutting down";
    if (why) {
      /* Best effort: one small answer that fits any socket buffer, then close. */
      char msg[256];
      int m = snprintf(msg, sizeof msg,
                       "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                       "Content-Length: %zu\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
                       "{\"error\":{\"code\":\"overloaded\",\"message\":\"%s\"}}",
                       strlen(why) + 45, why);
      if (send(fd, msg, (size_t)m, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* nothing to do: the connection is refused either way */
      }
      close(fd);
      if (n->cb.refused) n->cb.refused(n->cb.app, remote, 503, why);
      continue;
    }
    fr__net_conn *c = calloc(1, sizeof *c);
    if (!c) {
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->net = n, c->fd = fd;
    memcpy(c->addr, addr, 16);
    memcpy(c->remote, remote, sizeof remote);
    c->next = n->conns;
    if (n->conns) n->conns->prev = c;
    n->conns = c;
    n->n_open++;
    c->last_rx = now_ms();
    start_head(c);
    c->events = EPOLLIN;
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(n->epfd, EPOLL_CTL_ADD, fd, &e) != 0) conn_close(c);
  }
}

static void check_deadlines(fr__net *n) {
  int64_t t = now_ms();
  for (fr__net_conn *c = n->conns; c; c = c->next) {
    if (c->fd < 0 || c->state == ST_APP || t < c->deadline) continue;
    if (c->state == ST_HEAD && c->in_len > 0) {
      respond_error(c, 408, "timeout", "the request head did not arrive in time");
      run(c);
    } else if (c->state == ST_BODY) {
      respond_error(c, 408, "timeout", "the request body stalled");
      run(c);
    } else if (c->state == ST_WS && !c->ws_closing && !c->ping_sent) {
      /* Silence: ask for a sign of life, and close if none comes. */
      if (c->out_len - c->out_off < n->cfg.ws_out_limit) ws_frame(c, FR_WS_PING, "fr", 2);
      c->ping_sent = 1;
      c->deadline = t + n->cfg.ws_ping_ms;
      run(c);
    } else {
      conn_close(c);
    }
  }
}

static void take_posts(fr__net *n) {
  uint64_t v;
  if (read(n->evfd, &v, sizeof v) < 0) {
    /* EAGAIN: nothing was signalled since the last read */
  }
  /* The two arrays trade places, so that once they have grown to the
   * number of jobs in flight no post allocates. */
  pthread_mutex_lock(&n->mu);
  post_item *items = n->posts;
  size_t count = n->n_posts, cap = n->cap_posts;
  n->posts = n->spare, n->cap_posts = n->cap_spare, n->n_posts = 0;
  n->spare = items, n->cap_spare = cap;
  pthread_mutex_unlock(&n->mu);
  for (size_t i = 0; i < count; i++) {
    fr__net_conn *c = items[i].c;
    n->cb.completed(n->cb.app, c, items[i].item);
    if (c && c->fd >= 0) run(c);
  }
}

static int any_busy(fr__net *n) {
  for (fr__net_conn *c = n->conns; c; c = c->next)
    if (c->holds > 0 || (c->fd >= 0 && (c->state == ST_APP || c->state == ST_WRITING))) return 1;
  return 0;
}

/* Stopping: no more listening; idle connections and streams are closed now,
 * those with a request in progress once it is answered. */
static void drain_step(fr__net *n) {
  if (!n->draining) {
    n->draining = 1;
    epoll_ctl(n->epfd, EPOLL_CTL_DEL, n->lfd, NULL);
    close(n->lfd);
    n->lfd = -1;
  }
  for (fr__net_conn *c = n->conns; c; c = c->next) {
    if (c->fd < 0) continue;
    if (c->state == ST_HEAD || c->state == ST_LINGER) conn_close(c);
    else if (c->state == ST_WS && !c->ws_closing) {
      fr__net_ws_close(c, 1001, "the server is shutting down");
      run(c);
    }
  }
}

static void *loop_main(void *arg) {
  fr__net *n = arg;
  struct epoll_event ev[64];
  int64_t last_scan = now_ms();
  for (;;) {
    int k = epoll_wait(n->epfd, ev, 64, 100), posted = 0;
    for (int i = 0; i < k; i++) {
      void *p = ev[i].data.ptr;
      if (p == &n->lfd) {
        accept_all(n);
        continue;
      }
      if (p == &n->evfd) {
        posted = 1;
        continue;
      }
      fr__net_conn *c = p;
      if (c->fd < 0) continue;
      if ((ev[i].events & (EPOLLERR | EPOLLHUP)) || ((ev[i].events & EPOLLRDHUP) && c->state == ST_WS)) {
        conn_close(c);
        continue;
      }
      if (ev[i].events & EPOLLIN) on_readable(c);
      if (c->fd >= 0) run(c);
    }
    if (posted) take_posts(n);
    int64_t t = now_ms();
    if (t - last_scan >= 100) {
      check_deadlines(n);
      last_scan = t;
    }
    pthread_mutex_lock(&n->mu);
    int stop = n->stop_asked;
    pthread_mutex_unlock(&n->mu);
    if (stop) {
      drain_step(n);
      if (!any_busy(n) || t >= n->stop_deadline) break;
    }
    sweep(n);
  }
  for (fr__net_conn *c = n->conns; c; c = c->next) conn_close(c);
  sweep(n);
  return NULL;
}

/* ---- start and stop ----------------------------------------------------------------------------- */

fr_status fr__net_start(const fr__net_config *cfg, const fr__net_callbacks *cb, fr__net **out, fr_error *err) {
  *out = NULL;
  fr__net *n = calloc(1, sizeof *n);
  if (!n) return fr__fail(err, FR_E_NOMEM, "out of memory");
  n->cfg = *cfg, n->cb = *cb;
  n->lfd = n->epfd = n->evfd = -1;
  pthread_mutex_init(&n->mu, NULL);
  fr_status st = FR_OK;
  int family = cfg->addr.ss_family;
  n->lfd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  if (n->lfd < 0) st = fr__fail(err, FR_E_IO, "cannot open a socket: %s", strerror(errno));
  if (st == FR_OK) setsockopt(n->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (st == FR_OK && family == AF_INET6) setsockopt(n->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (st == FR_OK && (bind(n->lfd, (const struct sockaddr *)&cfg->addr, cfg->addr_len) != 0 || listen(n->lfd, 511) != 0))
    st = fr__fail(err, FR_E_IO, "cannot listen there: %s", strerror(errno));
  if (st == FR_OK) {
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    getsockname(n->lfd, (struct sockaddr *)&sa, &sl);
    n->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port : ((struct sockaddr_in *)&sa)->sin_port);
    n->epfd = epoll_create1(EPOLL_CLOEXEC);
    n->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (n->epfd < 0 || n->evfd < 0) st = fr__fail(err, FR_E_IO, "cannot create the event loop: %s", strerror(errno));
  }
  if (st == FR_OK) {
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &n->lfd};
    struct epoll_event f = {.events = EPOLLIN, .data.ptr = &n->evfd};
    if (epoll_ctl(n->epfd, EPOLL_CTL_ADD, n->lfd, &e) || epoll_ctl(n->epfd, EPOLL_CTL_ADD, n->evfd, &f))
      st = fr__fail(err, FR_E_IO, "cannot create the event loop: %s", strerror(errno));
  }
  if (st == FR_OK) {
    if (pthread_create(&n->thread, NULL, loop_main, n) != 0) st = fr__fail(err, FR_E_NOMEM, "cannot start the loop thread");
    else n->started = 1;
  }
  if (st != FR_OK) {
    fr__net_free(n);
    return st;
  }
  *out = n;
  return FR_OK;
}

int fr__net_port(const fr__net *n) { return n->port; }

void fr__net_post(fr__net *n, fr__net_conn *c, void *item) {
  pthread_mutex_lock(&n->mu);
  /* Posts are bounded by the app's job pool, so the array stops growing at
   * that size; should memory run out first, the worker waits and retries
   * rather than lose the item (and with it a connection's hold). */
  while (n->n_posts == n->cap_posts) {
    size_t cap = n->cap_posts ? 2 * n->cap_posts : 16;
    post_item *p = realloc(n->posts, cap * sizeof *p);
    if (p) {
      n->posts = p, n->cap_posts = cap;
      break;
    }
    pthread_mutex_unlock(&n->mu);
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
    pthread_mutex_lock(&n->mu);
  }
  n->posts[n->n_posts++] = (post_item){c, item};
  pthread_mutex_unlock(&n->mu);
  uint64_t one = 1;
  if (write(n->evfd, &one, sizeof one) < 0) {
    /* The counter is saturated only if the loop stopped reading it: fine. */
  }
}

void fr__net_stop(fr__net *n, int grace_ms) {
  if (!n || !n->started) return;
  pthread_mutex_lock(&n->mu);
  n->stop_asked = 1;
  n->stop_deadline = now_ms() + grace_ms;
  pthread_mutex_unlock(&n->mu);
  uint64_t one = 1;
  if (write(n->evfd, &one, sizeof one) < 0) {
    /* see fr__net_post */
  }
  pthread_join(n->thread, NULL);
  n->started = 0;
}

void fr__net_free(fr__net *n) {
  if (!n) return;
  fr__net_stop(n, 0);
  /* Items posted after the loop ended still belong to the app. */
  for (size_t i = 0; i < n->n_posts; i++) n->cb.completed(n->cb.app, n->posts[i].c, n->posts[i].item);
  free(n->posts);
  free(n->spare);
  fr__net_conn *c = n->conns;
  while (c) {
    fr__net_conn *next = c->next;
    conn_close(c);
    c->holds = 0;
    conn_free(c);
    c = next;
  }
  if (n->lfd >= 0) close(n->lfd);
  if (n->epfd >= 0) close(n->epfd);
  if (n->evfd >= 0) close(n->evfd);
  pthread_mutex_destroy(&n->mu);
  free(n);
}

/* ---- small accessors ---------------------------------------------------------------------- */

void fr__net_hold(fr__net_conn *c) { c->holds++; }
void fr__net_release(fr__net_conn *c) {
  if (c->holds > 0) c->holds--;
}
int fr__net_is_open(const fr__net_conn *c) { return c->fd >= 0; }
int fr__net_ws_backlogged(const fr__net_conn *c) { return ws_backlogged(c); }
const char *fr__net_remote(const fr__net_conn *c) { return c->remote; }
void *fr__net_user(const fr__net_conn *c) { return c->user; }
void fr__net_set_user(fr__net_conn *c, void *user) { c->user = user; }
int fr__net_draining(const fr__net_conn *c) { return c->net->draining; }

void fr__net_stream_counts(const fr__net_conn *c, int *total, int *same_address) {
  int t = 0, s = 0;
  for (const fr__net_conn *o = c->net->conns; o; o = o->next)
    if (o->fd >= 0 && o->state == ST_WS && !o->ws_closing) {
      t++;
      if (same_addr(o, c->addr)) s++;
    }
  *total = t, *same_address = s;
}

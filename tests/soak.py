#!/usr/bin/python3
"""Soak test of `facerec serve`: a long, bounded, mixed load on loopback while
the server's resources are watched.

usage: /usr/bin/python3 tests/soak.py --bin build/facerec --minutes 30 [--report FILE]
Run it from the repository root (the server finds ./models there).

It starts its own server (a temporary directory, an API key file of mode 0600
holding an admin key, --threads 2) and, for the given minutes, runs a few
client threads at once:
  - pipeline: detect and recognize of face PNGs over keep-alive connections,
    with an occasional GET /metrics;
  - gallery: create a subject, enrol a face, list its faces, delete it (and
    every so often sweep away subjects that the fuzzer managed to create, so
    that the gallery, and with it the server's memory, stays small);
  - stream: WebSocket streams that send frames, read every answer and close
    cleanly;
  - noread: WebSocket streams that send frames and never read an answer, then
    drop the connection;
  - fuzz: a small mutation fuzzer that sends malformed requests (random bytes
    in request lines, headers and bodies, hostile header combinations, nasty
    JSON, truncated PNGs) and bogus WebSocket frames.
Every request has a timeout, every loop ends at the deadline, and all traffic
stays on 127.0.0.1.

Every --sample-seconds (30) it samples the server's resident memory (VmRSS),
open file descriptors and threads, times GET /api/v1/health and prints a line.
At the end it prints the first, last and maximum of each, the requests counted
by outcome, and these checks:
  - the server never died (if it did, the fuzzer's last inputs are printed)
    and exits 0 on SIGTERM;
  - /api/v1/health answered within 2 s at every sample;
  - open fds and threads after the load are no more than the first sample
    after the warm-up plus a small margin (no leaked connections or threads);
  - resident memory after the load grew by no more than 20% over that sample;
  - every well-formed request was answered with 2xx and a body that parses
    as JSON (or 503, the documented answer to a full queue), every stream got
    an answer per frame and its Close echoed, and each kind of load got
    through at least once, so that a run whose load never reached the server
    cannot pass;
  - no request at all, malformed or not, got 500 (an internal error is a bug
    whatever the input).
It ends with "N passed, N failed" and exits 1 if any check failed.
"""

import argparse
import base64
import collections
import hashlib
import http.client
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HOST = "127.0.0.1"
FACE_NAMES = ["amy", "bernadette", "howard", "leonard", "penny", "raj", "sheldon", "stuart"]
# Margins for "no leak": a few descriptors may legitimately be open at the end
# (the listening socket is already in the baseline, but a connection the
# server has not yet noticed as closed may not be), and a thread pool may
# start one more helper lazily.
FD_MARGIN = 8
THREAD_MARGIN = 2
RSS_GROWTH = 0.20
HEALTH_LIMIT_S = 2.0
# Kinds of requests that are well formed: anything but a success (or 503,
# the documented answer to a full queue or too many streams) is a failure.
LEGIT_KINDS = ("detect", "recognize", "metrics", "create", "enrol", "faces", "delete", "stream", "noread")
# Successful outcomes that are not HTTP statuses: a stream whose frames were
# all answered and whose Close was echoed; a stream that was opened, fed and
# dropped unread as intended.
STREAM_OK = ("closed-clean", "dropped-unread")


def success(outcome):
    return (outcome.isdigit() and outcome[0] == "2") or outcome in STREAM_OK


# ---- bookkeeping ---------------------------------------------------------------------

class Tally:
    """Counts (kind, outcome) pairs from all threads, keeping the first
    example (an exception, an odd answer) of each pair for the report."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        self.examples = {}

    def add(self, kind, outcome, example=None):
        with self.lock:
            self.counts[(kind, str(outcome))] += 1
            if example is not None:
                self.examples.setdefault((kind, str(outcome)), example)

    def snapshot(self):
        with self.lock:
            return dict(self.counts)

    def total(self):
        with self.lock:
            return sum(self.counts.values())


def outcome_of(exc):
    """A short outcome name for an exception raised by a request."""
    if isinstance(exc, socket.timeout):
        return "timeout"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, BrokenPipeError):
        return "broken-pipe"
    if isinstance(exc, (http.client.RemoteDisconnected, http.client.IncompleteRead, EOFError)):
        return "closed"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    return "error:" + type(exc).__name__


# ---- the server process ---------------------------------------------------------------

class Server:
    """Starts `BIN serve` in a temporary directory with an admin key file."""

    def __init__(self, binary, workdir):
        self.dir = workdir
        self.key = os.urandom(32).hex()
        keys = os.path.join(workdir, "keys")
        # Created 0600 from the start: the hardened server refuses a key file
        # that group or others can read.
        fd = os.open(keys, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("admin %s\n" % hashlib.sha256(self.key.encode()).hexdigest())
        self.log_path = os.path.join(workdir, "server.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "serve", "--db", os.path.join(workdir, "g.db"), "--port", "0",
             "--threads", "2", "--api-key-file", keys],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log)
        self.pid = self.proc.pid
        self.port = None
        deadline = time.time() + 60
        while time.time() < deadline and self.proc.poll() is None:
            m = re.search(r"listening on http://[^ ]*:(\d+)/", self.log_text())
            if m:
                self.port = int(m.group(1))
                break
            time.sleep(0.1)

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.proc.poll() is None

    def stop(self, wait_s=15):
        """SIGTERM, then SIGKILL if it does not exit in time; returns the exit status or None."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode


def proc_stats(pid):
    """VmRSS (KiB), open fds and threads of a process, or None when it is gone."""
    try:
        rss = threads = None
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
        fds = len(os.listdir("/proc/%d/fd" % pid))
        return {"rss_kib": rss, "fds": fds, "threads": threads}
    except (OSError, ValueError):
        return None


def health_ms(port):
    """Milliseconds GET /api/v1/health took, or None when it failed or took over 2 s."""
    t0 = time.monotonic()
    c = http.client.HTTPConnection(HOST, port, timeout=HEALTH_LIMIT_S)
    try:
        c.request("GET", "/api/v1/health")
        r = c.getresponse()
        r.read()
        ms = (time.monotonic() - t0) * 1000
        return ms if r.status == 200 and ms <= HEALTH_LIMIT_S * 1000 else None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        c.close()


# ---- shared context of the load threads --------------------------------------------------

class Context:
    """What the load threads share: where the server is, the images, the
    deadline, the tally, and the stop event that ends every loop early."""

    def __init__(self, port, key, images, deadline, tally, pause_s):
        self.port = port
        self.key = key
        self.images = images
        self.deadline = deadline
        self.tally = tally
        self.pause_s = pause_s
        self.stop = threading.Event()
        self.fuzzer = None  # set by the fuzz thread; its recent inputs go in the report

    def running(self):
        return not self.stop.is_set() and time.monotonic() < self.deadline

    def rest(self, rng):
        # A short random pause keeps the load bounded (a few requests in
        # flight, not a flood) and the threads out of lock-step.
        self.stop.wait(self.pause_s * (0.5 + rng.random()))


class Http:
    """A keep-alive connection that reconnects after an error and is closed
    now and then at random (after one request or many), so that both
    connection reuse and connection churn are exercised."""

    def __init__(self, ctx, rng, timeout=30):
        self.ctx, self.rng, self.timeout = ctx, rng, timeout
        self.conn = None
        self.used = 0

    def request(self, method, path, body=None, headers=None):
        """Returns (status, body bytes); raises on a transport error (after closing)."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.ctx.port, timeout=self.timeout)
            self.used = 0
        h = {"X-API-Key": self.ctx.key}
        h.update(headers or {})
        try:
            self.conn.request(method, path, body=body, headers=h)
            r = self.conn.getresponse()
            data = r.read()
        except Exception:
            self.close()
            raise
        self.used += 1
        if r.will_close or self.used >= self.rng.randint(1, 20):
            self.close()
        return r.status, data

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def tally_outcome(ctx, kind, fn):
    """Runs fn() and tallies its outcome: fn returns a status (or an outcome
    name), or a tuple (outcome, example) when there is something to show.
    Returns the status, or None after an exception."""
    try:
        status = fn()
        example = None
        if isinstance(status, tuple):
            status, example = status
        ctx.tally.add(kind, status, example)
        return status
    except Exception as e:  # every failure is an outcome to count, not a crash
        ctx.tally.add(kind, outcome_of(e), repr(e)[:200])
        return None


# ---- a minimal WebSocket client (RFC 6455) ---------------------------------------------

def ws_frame(opcode, payload, mask=True, fin=True, rsv=0, length=None):
    """One frame; `length` overrides the announced payload length (for lies)."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 65536:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    k = (key * (len(payload) // 4 + 1))[:len(payload)]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(len(payload), "big")
    return head + key + masked


class WebSocket:
    """Handshake, masked frames out, unmasked frames in; raises on errors."""

    def __init__(self, port, key, timeout=15, extra_headers=None, handshake=True):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.buf = b""
        if not handshake:
            return
        nonce = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET /api/v1/stream HTTP/1.1", "Host: %s:%d" % (HOST, port), "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Key: " + nonce, "Sec-WebSocket-Version: 13",
                 "X-API-Key: " + key] + list(extra_headers or [])
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head = self._read_head()
        self.status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.") else 0
        want = base64.b64encode(hashlib.sha1((nonce + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
                                             .encode()).digest())
        self.open = self.status == 101 and want in head

    def _read_head(self):
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise EOFError("handshake answer too long")
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        return head

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, opcode, payload, **kw):
        self.sock.sendall(ws_frame(opcode, payload, **kw))

    def recv(self):
        """The next frame as (opcode, payload); answers pings on the way."""
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._exact(8))[0]
            if n > (1 << 20):
                raise EOFError("server frame of %d bytes" % n)
            mask = self._exact(4) if b1 & 0x80 else None
            payload = self._exact(n)
            if mask:
                payload = bytes(c ^ mask[i & 3] for i, c in enumerate(payload))
            opcode = b0 & 0x0F
            if opcode == 9:
                self.send(10, payload)
                continue
            return opcode, payload

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---- the load ------------------------------------------------------------------------

def checked(answer):
    """(status, body) -> the status, or ("bad-json", body) when a 2xx body is
    not valid JSON (e.g. a bare inf or nan for a distance): every API answer
    is JSON, and a client's parser would choke on it."""
    status, body = answer
    if 200 <= status < 300 and body:
        try:
            json.loads(body)
        except ValueError:
            return "bad-json", body[:300]
    return status


def pipeline_worker(ctx, rng):
    """Detect and recognize of face PNGs; sometimes GET /metrics."""
    conn = Http(ctx, rng)
    while ctx.running():
        img = rng.choice(ctx.images)
        if rng.random() < 0.05:
            tally_outcome(ctx, "metrics", lambda: conn.request("GET", "/metrics")[0])  # text, not JSON
        else:
            kind = rng.choice(["detect", "recognize"])
            tally_outcome(ctx, kind, lambda: checked(conn.request("POST", "/api/v1/" + kind, img,
                                                          {"Content-Type": "image/png"})))
        ctx.rest(rng)
    conn.close()


def sweep(ctx, conn):
    """Deletes every subject in the gallery (the gallery worker calls it
    between its own subjects): the fuzzer's mutated POSTs sometimes create
    subjects, and a gallery that grows all run long would make memory growth
    expected rather than a leak."""
    try:
        status, body = conn.request("GET", "/api/v1/subjects")
        names = [s["name"] for s in json.loads(body)["subjects"]] if status == 200 else []
    except Exception as e:
        ctx.tally.add("sweep", outcome_of(e))
        return
    for name in names[:200]:
        path = "/api/v1/subjects/" + urllib.parse.quote(name, safe="")
        tally_outcome(ctx, "sweep", lambda: conn.request("DELETE", path)[0])


def gallery_worker(ctx, rng):
    """Create a subject, enrol a face, list its faces, delete it."""
    conn = Http(ctx, rng)
    n = 0
    while ctx.running():
        n += 1
        if n % 10 == 1:
            sweep(ctx, conn)
        name = "soak%d" % n
        body = json.dumps({"name": name, "metadata": "soak run %d" % n}).encode()
        if tally_outcome(ctx, "create", lambda: checked(conn.request("POST", "/api/v1/subjects", body,
                                                             {"Content-Type": "application/json"}))) == 201:
            img = rng.choice(ctx.images)
            tally_outcome(ctx, "enrol", lambda: checked(conn.request("POST", "/api/v1/subjects/%s/faces" % name, img,
                                                             {"Content-Type": "image/png"})))
            tally_outcome(ctx, "faces", lambda: checked(conn.request("GET", "/api/v1/subjects/%s/faces" % name)))
            tally_outcome(ctx, "delete", lambda: checked(conn.request("DELETE", "/api/v1/subjects/" + name)))
        ctx.rest(rng)
    conn.close()


def stream_once(ctx, rng):
    """One well-behaved stream: frames with at most two in flight, every answer
    read, then a clean close. Returns the outcome."""
    ws = WebSocket(ctx.port, ctx.key)
    try:
        if not ws.open:
            return ws.status or "no-handshake"
        frames = rng.randint(3, 10)
        sent = answered = 0
        first_error = None
        while answered < frames:
            while sent < frames and sent - answered < 2:
                img = rng.choice(ctx.images)
                if rng.random() < 0.5:  # half with the FRF1 header carrying a sequence number
                    img = b"FRF1" + struct.pack("<5I", 1000 + sent, 0, 0, 0, 0) + img
                ws.send(2, img)
                sent += 1
            op, payload = ws.recv()
            if op == 8:
                return "server-closed", payload[:200]
            if op != 1:
                continue
            try:
                a = json.loads(payload)
            except ValueError:
                return "bad-answer", payload[:300]
            # An answer is faces, {"dropped":true} or an error. "overloaded"
            # is the stream's 503 (the server was busy and skipped the frame),
            # as legitimate as "dropped"; any other error for a good PNG is not.
            err = a.get("error")
            if err is not None and first_error is None and \
                    not (isinstance(err, dict) and err.get("code") == "overloaded"):
                first_error = payload[:300]
            answered += 1
        if first_error is not None:
            return "answer-error", first_error
        ws.send(8, struct.pack(">H", 1000))
        # The server echoes the Close; anything else before it is a late answer.
        for _ in range(5):
            op, _payload = ws.recv()
            if op == 8:
                return "closed-clean"
        return "no-close-echo"
    finally:
        ws.close()


def stream_worker(ctx, rng):
    while ctx.running():
        tally_outcome(ctx, "stream", lambda: stream_once(ctx, rng))
        ctx.rest(rng)


def noread_worker(ctx, rng):
    """Streams whose client never reads: frames go in, answers pile up in the
    socket buffers, then the connection is dropped without a Close. The server
    must only lose that client's answers, and free everything when it goes."""
    while ctx.running():
        def once():
            ws = WebSocket(ctx.port, ctx.key, timeout=10)
            try:
                if not ws.open:
                    return ws.status or "no-handshake"
                for _ in range(rng.randint(5, 20)):
                    ws.send(2, rng.choice(ctx.images))
                ctx.stop.wait(rng.uniform(1, 4))
                return "dropped-unread"
            finally:
                ws.close()
        tally_outcome(ctx, "noread", once)
        ctx.rest(rng)


# ---- the mutation fuzzer -------------------------------------------------------------

NASTY_JSON = [
    b"[" * 1000, b"{" * 100, b'{"name":"fz\\u0000x"}', b'{"name":"fz\xff\xfe"}', b'{"name":"fzx"} trailing',
    b'{"name":"fz' + b"A" * 10000 + b'"}', b'{"name":"\xe2\x80\xaefz"}', b'{"name":".."}', b'{"name":"."}',
    b'{"name":1e999999}', b'{"name":"fz\\ud800"}', b'{"name":"fzx","name":"fzy"}', b"", b"{", b"null",
    b'{"name":"fzx","metadata":' + b'{"a":' * 40 + b"1" + b"}" * 40 + b"}", b'{"name":"fz\xe2\x80\x8bx"}',
    b'{"name":"fz/../x"}', b'{"name":"fzx"}\x00', b'\xef\xbb\xbf{"name":"fzbom"}',
]
HEADER_LINES = [
    "Transfer-Encoding: chunked", "Content-Length: 99999999999999999999", "Content-Length: -5",
    "Content-Length: 3", "Content-Length: 1, 2", "Transfer-Encoding: gzip, chunked", "Host: evil.example",
    "Host:", "Origin: null", "Origin: http://evil.example", "X-API-Key: " + "k" * 4096,
    "Expect: 100-continue", "Connection: Upgrade", "Upgrade: websocket", "no colon here",
    " folded: continuation", "Content-Type: multipart/form-data; boundary=" + "b" * 200,
    "X-Long: " + "x" * 20000, ":", "Content-Type: application/json\x00", "X-API-Key:",
    "Content-Type: image/png", "Content-Type: application/octet-stream", "Connection: close",
]
METHODS = ["PROPFIND", "PUT", "MKCOL", "TRACE", "CONNECT", "OPTIONS", "HEAD", "get", "G\x00ET", "", "GET GET",
           "DELETE", "PATCH", "X" * 300]
TARGETS = ["/api/v1/subjects/Bob%00/faces", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/api/v1/subjects/%",
           "*", "http://127.0.0.1/api/v1/health", "/" + "a" * 9000, "/api/v1/detect?width=-1&height=99999999",
           "/api/v1/recognize?width=100000&height=100000&format=rgb", "/api/v1/faces/-1",
           "/api/v1/faces/99999999999999999999", "/api/v1/subjects/%e2%80%ae", "/api/v1/stream?key=%00",
           "/api/v1//subjects", "/api/v1/subjects/fzx/faces/../../", "", "/metrics?" + "&" * 1000]
VERSIONS = ["HTTP/1.0", "HTTP/0.9", "HTTP/2.0", "HTTP/1.1x", "", "HTTP/1.1 extra", "http/1.1"]


class Fuzzer:
    """Builds a well-formed request from a template, applies a few random
    mutations, sends it on a fresh connection and counts how the server
    answered (status code, closed, timeout). The names in its templates
    start with "fz" so that a human reading the gallery can tell where a
    subject came from (a mutation may of course change them)."""

    def __init__(self, ctx, rng):
        self.ctx, self.rng = ctx, rng
        # The last inputs sent, kept to be shown if the server dies: one of
        # them is then likely the culprit.
        self.recent = collections.deque(maxlen=20)

    def template(self):
        """A well-formed request to start from: ([method, target, header
        lines], body). Starting from valid requests lets the mutations reach
        past the request parser into the routes."""
        r, ctx = self.rng, self.ctx
        png = r.choice(ctx.images)
        choice = r.randrange(6)
        if choice == 0:
            return ["GET", "/api/v1/health", []], b""
        if choice == 1:
            return ["POST", "/api/v1/subjects", ["Content-Type: application/json"]], \
                json.dumps({"name": "fz%d" % r.randrange(1000)}).encode()
        if choice == 2:
            return ["POST", "/api/v1/" + r.choice(["detect", "recognize", "embed"]),
                    ["Content-Type: image/png"]], png
        if choice == 3:
            w, h = r.randint(1, 64), r.randint(1, 64)
            return ["POST", "/api/v1/detect?width=%d&height=%d&format=rgb" % (w, h),
                    ["Content-Type: application/octet-stream"]], os.urandom(w * h * 3)
        if choice == 4:
            b = "fzb%d" % r.randrange(10 ** 6)
            body = ("--%s\r\nContent-Disposition: form-data; name=\"a\"; filename=\"a.png\"\r\n"
                    "Content-Type: image/png\r\n\r\n" % b).encode() + png + \
                   ("\r\n--%s\r\nContent-Disposition: form-data; name=\"b\"; filename=\"b.png\"\r\n"
                    "Content-Type: image/png\r\n\r\n" % b).encode() + png + ("\r\n--%s--\r\n" % b).encode()
            return ["POST", "/api/v1/verify", ["Content-Type: multipart/form-data; boundary=" + b]], body
        return ["GET", "/api/v1/subjects", []], b""

    def http_case(self):
        """The raw bytes of one mutated request: one to three structural
        mutations (method, target, version, extra hostile headers, nasty JSON,
        a truncated body, chunked framing, body bytes), then sometimes random
        bytes in the head or a cut anywhere."""
        r = self.rng
        (method, target, headers), body = self.template()
        version = "HTTP/1.1"
        fix_length = True
        for _ in range(r.randint(1, 3)):
            m = r.randrange(8)
            if m == 0:
                method = r.choice(METHODS)
            elif m == 1:
                target = r.choice(TARGETS)
            elif m == 2:
                version = r.choice(VERSIONS)
            elif m == 3:
                headers = headers + [r.choice(HEADER_LINES) for _ in range(r.randint(1, 3))]
            elif m == 4:
                body = r.choice(NASTY_JSON)
                headers = headers + ["Content-Type: application/json"]
            elif m == 5 and body:
                # A truncated body: announced either as the short length or as
                # the full one (then the server waits for bytes that never come).
                cut = r.randrange(len(body))
                fix_length = r.random() < 0.5
                full = len(body)
                body = body[:cut]
                if not fix_length:
                    headers = headers + ["Content-Length: %d" % full]
            elif m == 6 and body:
                # Chunked framing, sometimes with a lying chunk size.
                size = len(body) + (r.randint(-5, 5) if r.random() < 0.5 else 0)
                body = b"%x\r\n" % max(size, 0) + body + b"\r\n0\r\n\r\n"
                headers = headers + ["Transfer-Encoding: chunked"]
                fix_length = False
            else:
                body = self.flip(body)
        if fix_length and (body or method == "POST"):
            headers = headers + ["Content-Length: %d" % len(body)]
        head = "%s %s %s\r\nHost: %s:%d\r\nX-API-Key: %s\r\n" % (method, target, version, HOST,
                                                                   self.ctx.port, self.ctx.key)
        raw = (head + "".join(h + "\r\n" for h in headers) + "\r\n").encode("latin-1", "replace")
        if r.random() < 0.4:
            raw = self.flip(raw)  # the head itself: random bytes in the request line and headers
        raw += body
        if r.random() < 0.1:
            raw = raw[:r.randrange(len(raw) + 1)]
        return raw

    def flip(self, data):
        """Random byte-level mutations: overwrite, insert, delete, repeat."""
        r = self.rng
        b = bytearray(data)
        for _ in range(r.randint(1, 8)):
            op = r.randrange(4)
            pos = r.randrange(len(b) + 1)
            if op == 0 and b and pos < len(b):
                b[pos] = r.randrange(256)
            elif op == 1:
                b[pos:pos] = os.urandom(r.randint(1, 16))
            elif op == 2 and b:
                del b[pos:pos + r.randint(1, 16)]
            elif b:
                b[pos:pos] = b[max(0, pos - 8):pos] * r.randint(1, 50)
        return bytes(b)

    def send_http(self):
        raw = self.http_case()
        self.recent.append(("http", raw))
        s = socket.create_connection((HOST, self.ctx.port), timeout=3)
        try:
            try:
                s.sendall(raw)
                if self.rng.random() < 0.7:
                    s.shutdown(socket.SHUT_WR)  # the server sees the end at once
            except OSError:
                pass  # the server may close before it has read everything: its answer may still be there
            data = b""
            while len(data) < 65536:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                if b"\r\n\r\n" in data:
                    break
            m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
            return int(m.group(1)) if m else ("closed" if not data else "garbage")
        finally:
            s.close()

    def ws_case(self):
        """A handshake (sometimes a broken one) followed by bogus frames.
        Returns how the server reacted: close code, eof, answered, timeout."""
        r = self.rng
        extra = []
        if r.random() < 0.2:
            extra = [r.choice(["Sec-WebSocket-Version: 8", "Origin: http://evil.example", "Origin: null",
                               "Sec-WebSocket-Extensions: permessage-deflate", "Upgrade: h2c"])]
        ws = WebSocket(self.ctx.port, self.ctx.key, timeout=3, extra_headers=extra)
        try:
            if not ws.open:
                return "handshake-%s" % ws.status
            png = r.choice(self.ctx.images)
            frames = [
                lambda: os.urandom(r.randint(1, 64)),
                lambda: ws_frame(2, png, mask=False),
                lambda: ws_frame(2, b"x" * 10, rsv=r.randint(1, 7)),
                lambda: ws_frame(r.choice([3, 4, 5, 6, 7, 11, 12, 15]), b"bogus"),
                lambda: ws_frame(2, b"", length=(1 << 63) - 1)[:10],
                lambda: ws_frame(2, b"", length=9 * 1024 * 1024)[:10],
                lambda: ws_frame(9, b"p" * 126),
                lambda: ws_frame(9, b"ping", fin=False),
                lambda: ws_frame(0, b"continuation without a start"),
                lambda: ws_frame(1, b"\xff\xfe invalid utf-8"),
                lambda: ws_frame(8, b"\x03"),
                lambda: ws_frame(8, struct.pack(">H", 999) + b"bad code"),
                lambda: ws_frame(2, png[:r.randrange(len(png))]),
                lambda: ws_frame(2, b"FRF1" + struct.pack("<5I", 1, 1 << 30, 1 << 30, 0, 2) + b"\0" * 64),
                lambda: ws_frame(2, b"FRF1" + struct.pack("<5I", 2, 64, 64, 1, 3) + b"\0" * 64),
                lambda: ws_frame(2, b"FRF1\x00"),
                lambda: ws_frame(2, png[:20], fin=False) + ws_frame(0, self.flip(png[20:])),
                lambda: ws_frame(9, b"fine ping"),
            ]
            out = b"".join(r.choice(frames)() for _ in range(r.randint(1, 4)))
            self.recent.append(("ws", b"(after a handshake with %r) " % extra + out))
            try:
                ws.sock.sendall(out)
            except OSError:
                pass
            try:
                while True:
                    op, payload = ws.recv()
                    if op == 8:
                        code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else "none"
                        return "close-%s" % code
                    if op == 10:
                        return "pong"
                    if op == 1:
                        return "answered"
            except EOFError:
                return "eof"
        finally:
            ws.close()


def fuzz_worker(ctx, rng):
    fz = Fuzzer(ctx, rng)
    ctx.fuzzer = fz
    while ctx.running():
        if rng.random() < 0.25:
            tally_outcome(ctx, "fuzz-ws", fz.ws_case)
        else:
            tally_outcome(ctx, "fuzz-http", fz.send_http)
        # The fuzzer's requests are cheap for the server: a shorter pause.
        ctx.stop.wait(ctx.pause_s * rng.random() * 0.5)


# ---- the run -------------------------------------------------------------------------

def fmt_sample(s):
    if s["stats"] is None:
        return "t=%5.0fs  server gone" % s["t"]
    st = s["stats"]
    return "t=%5.0fs  rss=%7.1f MiB  fds=%4d  threads=%3d  health=%s  requests=%d" % (
        s["t"], st["rss_kib"] / 1024, st["fds"], st["threads"],
        "%.0f ms" % s["health_ms"] if s["health_ms"] is not None else "NO ANSWER", s["requests"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/facerec", help="the facerec binary")
    ap.add_argument("--minutes", type=float, default=30, help="how long the load runs")
    ap.add_argument("--report", help="also write the samples, counts and checks to this JSON file")
    ap.add_argument("--data", default=os.environ.get("FACEREC_DATA", "../shared/data"),
                    help="the data folder holding bbt/examples/images")
    ap.add_argument("--sample-seconds", type=float, default=30, help="seconds between resource samples")
    ap.add_argument("--warmup-seconds", type=float, default=None,
                    help="samples before this are warm-up (default: a quarter of the run, at most 120)")
    ap.add_argument("--pause-ms", type=float, default=20, help="mean pause between a thread's requests")
    ap.add_argument("--seed", type=int, default=None, help="random seed (printed, for a rerun)")
    args = ap.parse_args()

    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    duration = args.minutes * 60
    warmup = args.warmup_seconds if args.warmup_seconds is not None else min(120.0, duration / 4)
    images = []
    for name in FACE_NAMES:
        for k in range(1, 6):
            p = os.path.join(args.data, "bbt/examples/images", name, "%s%d.png" % (name, k))
            if os.path.exists(p):
                with open(p, "rb") as f:
                    images.append(f.read())
    results = []

    def check(ok, what, detail=""):
        results.append({"ok": bool(ok), "what": what, "detail": detail})
        print(("ok   " if ok else "FAIL ") + what + ("" if ok or not detail else ": " + str(detail)), flush=True)

    if not images:
        check(False, "face PNGs under " + os.path.join(args.data, "bbt/examples/images"))
        print("0 passed, 1 failed")
        return 1
    print("soak: %s for %.1f min, warm-up %.0f s, samples every %.0f s, seed %d, %d images" % (
        args.bin, args.minutes, warmup, args.sample_seconds, seed, len(images)), flush=True)

    with tempfile.TemporaryDirectory(prefix="facerec-soak-") as tmp:
        srv = Server(args.bin, tmp)
        if srv.port is None:
            check(False, "the server starts", srv.log_text()[-2000:])
            srv.stop()
            print("0 passed, 1 failed")
            return 1
        print("soak: server pid %d on port %d" % (srv.pid, srv.port), flush=True)
        # Whatever happens below (an exception, Ctrl-C), the server must not
        # outlive the test.
        try:
            tally = Tally()
            start = time.monotonic()
            ctx = Context(srv.port, srv.key, images, start + duration, tally, args.pause_ms / 1000)
            workers = [("pipeline", pipeline_worker), ("pipeline2", pipeline_worker), ("gallery", gallery_worker),
                       ("stream", stream_worker), ("noread", noread_worker), ("fuzz", fuzz_worker)]
            threads = []
            for i, (name, fn) in enumerate(workers):
                t = threading.Thread(target=fn, args=(ctx, random.Random(seed * 100 + i)), name=name, daemon=True)
                threads.append(t)

            samples = []
            health_misses = []
            died_at = None

            def sample():
                s = {"t": time.monotonic() - start, "stats": proc_stats(srv.pid) if srv.alive() else None,
                     "health_ms": health_ms(srv.port) if srv.alive() else None, "requests": tally.total()}
                samples.append(s)
                if s["health_ms"] is None:
                    health_misses.append(round(s["t"]))
                print(fmt_sample(s), flush=True)
                return s

            sample()  # before any load: the "first" of the report
            for t in threads:
                t.start()
            # Look at the process every second (so that a crash stops the load at
            # once and its time is known), sample every --sample-seconds.
            next_sample = start + args.sample_seconds
            while time.monotonic() < ctx.deadline:
                ctx.stop.wait(max(0.0, min(1.0, ctx.deadline - time.monotonic())))
                if not srv.alive():
                    died_at = time.monotonic() - start
                    print("t=%5.0fs  the server died (status %s)" % (died_at, srv.proc.poll()), flush=True)
                    break
                if next_sample <= time.monotonic() < ctx.deadline:
                    sample()
                    next_sample += args.sample_seconds
            ctx.stop.set()
            for t in threads:
                t.join(30)
            stuck = [t.name for t in threads if t.is_alive()]
            # Let the server notice the last closed connections before the final
            # sample (the clients closed them; this is the server's side catching up).
            baseline = next((s for s in samples if s["t"] >= warmup and s["stats"]), None)
            settle = time.monotonic() + 5
            while srv.alive() and baseline and time.monotonic() < settle:
                st = proc_stats(srv.pid)
                if st and st["fds"] <= baseline["stats"]["fds"] + FD_MARGIN:
                    break
                time.sleep(0.5)
            final = sample()
            elapsed = time.monotonic() - start

            # ---- the report ----
            live = [s["stats"] for s in samples if s["stats"]]
            print("\nresource   first      last       max")
            for key, unit, scale in (("rss_kib", "MiB", 1024), ("fds", "", 1), ("threads", "", 1)):
                vals = [st[key] / scale for st in live]
                if vals:
                    print("%-8s %8.1f%s %8.1f%s %8.1f%s" % (key.replace("_kib", ""), vals[0], unit, vals[-1], unit,
                                                             max(vals), unit))
            counts = tally.snapshot()
            print("\nrequests by kind and outcome (%d in %.0f s):" % (sum(counts.values()), elapsed))
            by_kind = collections.defaultdict(dict)
            for (kind, outcome), n in sorted(counts.items()):
                by_kind[kind][outcome] = n
            for kind, outs in sorted(by_kind.items()):
                print("  %-10s %s" % (kind, "  ".join("%s=%d" % (o, n) for o, n in sorted(outs.items()))))
            # The first example of each odd outcome of the well-formed load, to
            # start a diagnosis from (the fuzzer's odd outcomes are its purpose).
            odd = {k: v for k, v in tally.examples.items() if k[0] in LEGIT_KINDS}
            if odd:
                print("first examples of odd outcomes:")
                for (kind, outcome), ex in sorted(odd.items()):
                    print("  %s %s: %r" % (kind, outcome, ex))
            print()

            # ---- the checks ----
            check(died_at is None and srv.alive(), "the server stayed up for the whole run",
                  "died at %.0f s with status %s: %s" % (died_at or elapsed, srv.proc.poll(), srv.log_text()[-800:]))
            check(not stuck, "every load thread finished by the deadline", ", ".join(stuck))
            check(not health_misses, "/api/v1/health answered within %.0f s at every sample" % HEALTH_LIMIT_S,
                  "no answer at t=%s s" % health_misses)
            if baseline is None or final["stats"] is None:
                check(False, "a sample after the warm-up and one at the end",
                      "run longer than the warm-up (%.0f s) and one sample interval" % warmup)
            else:
                b, e = baseline["stats"], final["stats"]
                check(e["fds"] <= b["fds"] + FD_MARGIN, "open fds at the end (%d) within %d of the first sample after "
                      "warm-up (%d at %.0f s)" % (e["fds"], FD_MARGIN, b["fds"], baseline["t"]))
                check(e["threads"] <= b["threads"] + THREAD_MARGIN, "threads at the end (%d) within %d of the first "
                      "sample after warm-up (%d)" % (e["threads"], THREAD_MARGIN, b["threads"]))
                growth = (e["rss_kib"] - b["rss_kib"]) / b["rss_kib"]
                check(growth <= RSS_GROWTH,
                      "RSS at the end (%.1f MiB) within %d%% of the first sample after warm-up (%.1f MiB): %+.1f%%"
                      % (e["rss_kib"] / 1024, RSS_GROWTH * 100, b["rss_kib"] / 1024, growth * 100))
            # 422 is the right answer to an enrolment of a photo in which the
            # detector finds no face, which happens with some of the small crops.
            bad = {"%s %s" % k: n for k, n in counts.items()
                   if k[0] in LEGIT_KINDS and not (success(k[1]) or k[1] == "503")
                   and (k[0], k[1]) != ("enrol", "422")}
            check(not bad, "every well-formed request succeeded (or got 503: queue full)", bad)
            missing = [k for k in LEGIT_KINDS
                       if not any(kind == k and success(o) for (kind, o) in counts)]
            check(not missing, "each kind of well-formed load succeeded at least once", "never: " + ", ".join(missing))
            errors = {"%s %s" % k: n for k, n in counts.items() if k[1] == "500"}
            check(not errors, "no request got 500 Internal Server Error", errors)
            status = srv.stop()
            check(status == 0, "the server exits 0 on SIGTERM after the run",
                  "status %s%s" % (status, " (killed after 15 s)" if status is None else ""))

            recent = list(ctx.fuzzer.recent) if ctx.fuzzer else []
            if died_at is not None and recent:
                print("the fuzzer's last inputs before the server died (oldest first, cut at 300 bytes):")
                for kind, raw in recent[-5:]:
                    print("  %s %r" % (kind, raw[:300]))
            passed = sum(1 for c in results if c["ok"])
            failed = len(results) - passed
            if args.report:
                with open(args.report, "w") as f:
                    json.dump({"binary": args.bin, "minutes": args.minutes, "seed": seed, "warmup_s": warmup,
                               "elapsed_s": elapsed, "samples": samples,
                               "counts": {"%s %s" % k: n for k, n in sorted(counts.items())},
                               "checks": results, "passed": passed, "failed": failed,
                               "last_fuzz_inputs": [[k, raw[:4096].decode("latin-1")] for k, raw in recent]},
                              f, indent=1)
            if failed:
                print("server log (last lines):\n" + "\n".join(srv.log_text().splitlines()[-10:]))
            print("%d passed, %d failed" % (passed, failed))
            return 1 if failed else 0
        finally:
            srv.stop()


if __name__ == "__main__":
    sys.exit(main())

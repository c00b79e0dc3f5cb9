#!/usr/bin/env python3
"""A fault-injecting HTTP proxy in front of a registry, for the tests.

  faultproxy.py PORTFILE UPSTREAM_URL

Listens on a free 127.0.0.1 port (written to PORTFILE) and forwards GET/HEAD and the
push requests (POST/PUT/PATCH, with their bodies and the client's Host, so upload
Locations point back here) to UPSTREAM_URL.  Faults are read from PORTFILE.faults (JSON list, re-read whenever the
file changes) as {"match": "<substring of the path>", "action": A, "count": N}:
  503 / 500 / 429   answer that status instead of forwarding (429 with Retry-After: 0)
  503:RA, 500:RA, 429:RA   the same with Retry-After: RA, where RA is seconds ("2") or
                    "date:N", an HTTP-date N seconds from now (RFC 9110 IMF-fixdate)
  stall-headers     read the request, then send nothing (until the client goes, at most 120 s)
  stall-body        send the headers and half of the body, then nothing (as above)
  bad-range         answer a Range request with 206 and the whole blob from byte 0
                    (Content-Range: bytes 0-…: not the range asked for)
  cut               send the headers and half of the body, then drop the connection
  corrupt           flip one byte in the middle of the body
  ignore-range      drop the Range header (the upstream answers 200 with everything)
  bad-digest        send a wrong Docker-Content-Digest header
  404               answer 404 (MANIFEST_UNKNOWN)
  redirect:BASE     answer 307 to BASE + the same path (e.g. another proxy: another "host")
  cut-upload        read half of the request body, send the headers of an answer and
                    drop the connection before its body (the upstream never sees the request; the client cannot
                    take it for a stale kept-alive connection and send it again)
  cut-reply         forward the request, then drop the connection before the answer
                    (the upstream took it; the client does not know)
  slow:BPS          read the request body and send the answer body at about BPS bytes a
                    second (a slow link: the progress display has something to show)
Each rule fires count times (default 1), after letting "after" matching requests
through (default 0); "method" limits it to one HTTP method.  Every request is logged to PORTFILE.log as
"METHOD PATH range=<Range or -> auth=<yes|no> -> STATUS[ ACTION]", and every new TCP
connection as "connection"."""
import email.utils, json, os, select, sys, threading, time, http.client
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

portfile, upstream = sys.argv[1], urlparse(sys.argv[2])
lock = threading.Lock()
state = {"mtime": None, "rules": []}


def rules():
    p = portfile + ".faults"
    try:
        m = os.stat(p).st_mtime_ns
    except FileNotFoundError:
        state["mtime"], state["rules"] = None, []
        return state["rules"]
    if m != state["mtime"]:
        with open(p) as f:
            rs = json.load(f)
        for r in rs:
            r.setdefault("count", 1)
            r.setdefault("after", 0)
        state["mtime"], state["rules"] = m, rs
    return state["rules"]


def take(method, path):
    with lock:
        for r in rules():
            if r["match"] in path and r["count"] > 0 and r.get("method", method) == method:
                if r["after"] > 0:
                    r["after"] -= 1
                    continue
                r["count"] -= 1
                return r["action"]
    return None


def log(line):
    with lock:
        with open(portfile + ".log", "a") as f:
            f.write(line + "\n")


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def setup(self):
        super().setup()
        log("connection")  # one line per TCP connection: the tests count reuse

    def simple(self, status, body=b"", extra=None):
        self.send_response(status)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    def drop(self, data):
        """Send data, then drop the connection (no more of the answer)."""
        self.wfile.write(data)
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(2)
        except OSError:
            pass

    def stall(self):
        """Send nothing more until the client closes the connection (at most 120 s)."""
        self.wfile.flush()
        end = time.time() + 120
        while time.time() < end:
            r, _, _ = select.select([self.connection], [], [], 0.2)
            if r:
                try:
                    if not self.connection.recv(4096):
                        break
                except OSError:
                    break
        self.close_connection = True

    def handle_any(self):
        action = take(self.command, self.path)
        rng = self.headers.get("Range")
        auth = "yes" if self.headers.get("Authorization") else "no"
        prefix = "%s %s range=%s auth=%s" % (self.command, self.path, rng or "-", auth)
        status = action.split(":", 1)[0] if action else None
        if status in ("503", "500", "429"):
            ra = action.split(":", 1)[1] if ":" in action else ("0" if status == "429" else None)
            if ra and ra.startswith("date:"):
                ra = email.utils.formatdate(time.time() + int(ra[5:]), usegmt=True)
            log("%s -> %s %s" % (prefix, status, action))
            n = int(self.headers.get("Content-Length") or 0)
            if n > 0:
                self.rfile.read(n)
            self.simple(int(status), b'{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}',
                        {"Retry-After": ra} if ra else None)
            return
        if action == "stall-headers":
            log("%s -> stall-headers" % prefix)
            self.stall()
            return
        if action and action.startswith("redirect:"):
            log("%s -> 307 redirect" % prefix)
            self.simple(307, b"", {"Location": action[len("redirect:"):] + self.path})
            return
        if action == "404":
            log("%s -> 404 404" % prefix)
            self.simple(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')
            return
        n = int(self.headers.get("Content-Length") or 0)
        if action == "cut-upload":
            self.rfile.read(n // 2)
            log("%s -> cut-upload" % prefix)
            self.drop(b"HTTP/1.1 202 Accepted\r\nContent-Length: 64\r\n\r\n")
            return
        rate = int(action.split(":", 1)[1]) if action and action.startswith("slow:") else 0
        req_body = self.slow_read(n, rate) if n > 0 and rate else self.rfile.read(n) if n > 0 else None
        headers = {}
        for k in ("Accept", "Authorization", "Range", "Content-Type", "Content-Range", "Host"):
            v = self.headers.get(k)
            if v and not (k == "Range" and action in ("ignore-range", "bad-range")):
                headers[k] = v
        if self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(n)
        c = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        c.request(self.command, self.path, body=req_body, headers=headers)
        r = c.getresponse()
        body = r.read()
        c.close()
        log("%s -> %d%s" % (prefix, r.status, " " + action if action else ""))
        if action == "cut-reply":
            self.drop(b"HTTP/1.1 2")
            return
        if action == "corrupt" and len(body) > 0:
            b = bytearray(body)
            b[len(b) // 2] ^= 0xff
            body = bytes(b)
        if action == "bad-range" and rng and r.status == 200:
            self.send_response(206)
            self.send_header("Content-Range", "bytes 0-%d/%d" % (len(body) - 1, len(body)))
        else:
            self.send_response(r.status)
        for k, v in r.getheaders():
            lk = k.lower()
            if lk in ("content-length", "connection", "transfer-encoding", "date", "server"):
                continue
            if lk == "docker-content-digest" and action == "bad-digest":
                v = "sha256:" + "0" * 64
            self.send_header(k, v)
        length = r.getheader("Content-Length")
        self.send_header("Content-Length", length if self.command == "HEAD" and length else str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if action == "cut" and len(body) > 1:
            self.drop(body[: len(body) // 2])
            return
        if action == "stall-body":
            self.wfile.write(body[: len(body) // 2])
            self.stall()
            return
        if rate:
            step = max(1, rate // 20)
            for i in range(0, len(body), step):
                self.wfile.write(body[i:i + step])
                self.wfile.flush()
                time.sleep(0.05)
            return
        self.wfile.write(body)

    def slow_read(self, n, rate):
        step, parts = max(1, rate // 20), []
        while n > 0:
            parts.append(self.rfile.read(min(step, n)))
            n -= len(parts[-1])
            time.sleep(0.05)
        return b"".join(parts)

    do_GET = handle_any
    do_HEAD = handle_any
    do_POST = handle_any
    do_PUT = handle_any
    do_PATCH = handle_any


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()

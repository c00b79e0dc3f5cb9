#!/usr/bin/env python3
"""The far ends of the egress tests (tests/net/egress.sh), python3 stdlib only.

  origin PORTFILE CERT KEY    HTTP and HTTPS origin servers, a TCP echo server and a
                              closed port on 127.0.0.1; writes their ports as JSON to
                              PORTFILE and serves until killed
  raw PROXYPORT TEXT [WAIT]   send TEXT (\\r\\n escapes allowed) to the proxy, print what
                              comes back until the proxy closes (hang guard 30 s); WAIT
                              seconds of pause after the first 10 bytes (a slow client)
  tunnels PROXYPORT ECHOPORT N
                              open N CONNECT tunnels to host:ECHOPORT at once, hold them
                              all open, echo a line through each; prints counts of
                              statuses and of echoes that came back intact
  gen N                       print the sha256 of the N-byte test pattern /big serves
  upload PROXYPORT HTTPPORT N  POST N pattern bytes through a CONNECT tunnel, chunked;
                              prints the origin's answer (the sha256 it computed)
  frame-host SOCK REPLYHEX    a stand-in host half with Enclaver's framing on a Unix
                              socket: prints the frame it got as hex, answers REPLYHEX,
                              then echoes the tunnel's bytes
  frame-enclave SOCK HEX      the enclave side: sends HEX on the host half's socket,
                              prints the reply frame as hex, then, after "Ok", sends
                              a GET and prints the first line of the answer
"""
import hashlib
import http.server
import json
import os
import resource
import select
import socket
import socketserver
import ssl
import sys
import threading
import time


def pattern(n):
    """Deterministic bytes: blocks of sha256 over a counter (not compressible)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(i.to_bytes(8, "little")).digest() * 128
        i += 1
    return bytes(out[:n])


def pattern_stream(n, bs=1 << 20):
    block = pattern(bs)
    left = n
    while left > 0:
        k = min(left, bs)
        yield block[:k]
        left -= k


def pattern_sha(n):
    h = hashlib.sha256()
    for b in pattern_stream(n):
        h.update(b)
    return h.hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_text(self, code, text, extra=None):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        """The request body, framed by Content-Length or chunked."""
        h = hashlib.sha256()
        n = 0
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                left = size
                while left:
                    d = self.rfile.read(min(left, 1 << 16))
                    if not d:
                        raise IOError("truncated chunk")
                    h.update(d)
                    n += len(d)
                    left -= len(d)
                self.rfile.readline(16)
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left:
                d = self.rfile.read(min(left, 1 << 16))
                if not d:
                    raise IOError("truncated body")
                h.update(d)
                n += len(d)
                left -= len(d)
        return n, h.hexdigest()

    def do_GET(self):
        if self.path == "/hello":
            self.send_text(200, "hello from origin\n")
        elif self.path == "/headers":
            raw = "".join("%s: %s\n" % (k, v) for k, v in self.headers.raw_items())
            self.send_text(200, "%s %s\n%s" % (self.command, self.path, raw))
        elif self.path == "/peer":
            self.send_text(200, "peer %d\n" % self.client_address[1])
        elif self.path.startswith("/big?n="):
            n = int(self.path[7:])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            for b in pattern_stream(n):
                self.wfile.write(b)
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"first chunk\n", b"x" * 5000 + b"\n", b"last chunk\n"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/close":
            # a response framed by the end of the connection
            self.close_connection = True
            self.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close\n")
        else:
            self.send_text(404, "no such path\n")

    do_HEAD = do_GET

    def do_POST(self):
        n, digest = self.read_body()
        self.send_text(200, "%d %s\n" % (n, digest))

    do_PUT = do_POST

    def do_OPTIONS(self):
        self.send_text(200, "options target: %s\n" % self.path)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


class TLSServer(Server):
    def __init__(self, addr, handler, ctx):
        super().__init__(addr, handler)
        self.ctx = ctx

    def get_request(self):
        s, a = self.socket.accept()
        return self.ctx.wrap_socket(s, server_side=True), a


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            d = self.request.recv(65536)
            if not d:
                return
            self.request.sendall(d)


class EchoServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 4096


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def origin(portfile, cert, key):
    raise_nofile()
    threading.stack_size(256 * 1024)
    http_srv = Server(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    tls_srv = TLSServer(("127.0.0.1", 0), Handler, ctx)
    echo_srv = EchoServer(("127.0.0.1", 0), Echo)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    closed = s.getsockname()[1]
    s.close()
    for srv in (http_srv, tls_srv, echo_srv):
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    ports = {"http": http_srv.server_address[1], "https": tls_srv.server_address[1],
             "echo": echo_srv.server_address[1], "closed": closed}
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        json.dump(ports, f)
    os.rename(tmp, portfile)
    while True:
        time.sleep(3600)


def read_all(s, deadline=30):
    s.settimeout(deadline)
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except socket.timeout:
        out += b"\n[timeout]"
    except ConnectionResetError:
        out += b"\n[reset]"
    return out


def raw(port, text, wait=0):
    data = text.encode().decode("unicode_escape").encode("latin-1")
    s = socket.create_connection(("127.0.0.1", int(port)))
    if wait:
        s.sendall(data[:10])
        time.sleep(float(wait))
        try:
            s.sendall(data[10:])
        except OSError:
            pass
    else:
        s.sendall(data)
    sys.stdout.write(read_all(s).decode("latin-1"))


def connect_tunnel(port, target):
    s = socket.create_connection(("127.0.0.1", int(port)))
    s.sendall(b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target.encode(), target.encode()))
    head = b""
    while b"\r\n\r\n" not in head:
        d = s.recv(1)
        if not d:
            break
        head += d
    return s, head


def tunnels(port, echo, n):
    raise_nofile()
    n = int(n)
    socks = []
    statuses = {}
    for i in range(n):
        try:
            s, head = connect_tunnel(port, "host:%s" % echo)
        except OSError as e:
            statuses["connect error " + e.strerror] = statuses.get("connect error " + e.strerror, 0) + 1
            continue
        st = head.split(b" ")[1].decode() if head.startswith(b"HTTP/1.1 ") else "none"
        statuses[st] = statuses.get(st, 0) + 1
        socks.append(s)
    # all open at once now: one line through each
    good = 0
    for i, s in enumerate(socks):
        msg = b"tunnel %d\n" % i
        try:
            s.sendall(msg)
            s.settimeout(30)
            got = b""
            while len(got) < len(msg):
                d = s.recv(len(msg) - len(got))
                if not d:
                    break
                got += d
            if got == msg:
                good += 1
        except OSError:
            pass
    print(json.dumps({"statuses": statuses, "echoed": good}, sort_keys=True))
    for s in socks:
        s.close()


def upload(port, http_port, n):
    n = int(n)
    s, head = connect_tunnel(port, "host:%s" % http_port)
    if not head.startswith(b"HTTP/1.1 200"):
        print("no tunnel: %r" % head)
        return
    s.sendall(b"POST /upload HTTP/1.1\r\nHost: host\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    for b in pattern_stream(n):
        s.sendall(b"%x\r\n" % len(b) + b + b"\r\n")
    s.sendall(b"0\r\n\r\n")
    resp = read_all(s, 120)
    print(resp.split(b"\r\n\r\n", 1)[-1].decode().strip())


def frame_host(path, reply_hex):
    if os.path.exists(path):
        os.unlink(path)
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(1)
    c, _ = ls.accept()
    c.settimeout(30)
    hdr = b""
    while len(hdr) < 2:
        hdr += c.recv(2 - len(hdr))
    n = int.from_bytes(hdr, "little")
    body = b""
    while len(body) < n:
        body += c.recv(n - len(body))
    print((hdr + body).hex(), flush=True)
    c.sendall(bytes.fromhex(reply_hex))
    # then a tunnel: echo with a prefix, so the test sees the bytes went through us
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(b"echo:" + d)
    except OSError:
        pass
    c.close()


def frame_enclave(path, hexbytes):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(bytes.fromhex(hexbytes))
    s.settimeout(30)
    hdr = b""
    while len(hdr) < 2:
        d = s.recv(2 - len(hdr))
        if not d:
            print("closed before a reply")
            return
        hdr += d
    n = int.from_bytes(hdr, "little")
    body = b""
    while len(body) < n:
        d = s.recv(n - len(body))
        if not d:
            break
        body += d
    print((hdr + body).hex())
    print(body.decode("latin-1"))
    if body == b'"Ok"':
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: host\r\nConnection: close\r\n\r\n")
        print(read_all(s).decode("latin-1").split("\r\n")[0])


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "origin":
        origin(*args)
    elif cmd == "raw":
        raw(*args)
    elif cmd == "tunnels":
        tunnels(*args)
    elif cmd == "gen":
        print(pattern_sha(int(args[0])))
    elif cmd == "upload":
        upload(*args)
    elif cmd == "frame-host":
        frame_host(*args)
    elif cmd == "frame-enclave":
        frame_enclave(*args)
    else:
        sys.exit("egress-peer: unknown command %s" % cmd)


if __name__ == "__main__":
    main()

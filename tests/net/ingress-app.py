#!/usr/bin/env python3
"""The app of tests/net/ingress.sh: HTTP/1.1 on 127.0.0.1 at each port given, as an
enclave's app serves its ingress ports.

  ingress-app.py PORT...

GET /            "hello from the app on port N" (and the client's address)
GET /big?n=B     B bytes of a fixed pattern (the test hashes what arrives)
POST /sha        the SHA-256 of the request body, hex
Prints "app-ready" once every port listens."""
import hashlib
import http.server
import socketserver
import sys
import threading
import urllib.parse

PATTERN = bytes(range(256)) * 256  # 64 KiB


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, body, ctype="text/plain"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        if u.path == "/big":
            n = int(urllib.parse.parse_qs(u.query)["n"][0])
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            while n > 0:
                chunk = PATTERN[: min(n, len(PATTERN))]
                self.wfile.write(chunk)
                n -= len(chunk)
            return
        port = self.server.server_address[1]
        self.reply(("hello from the app on port %d, peer %s\n" % (port, self.client_address[0])).encode())

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        h = hashlib.sha256()
        while n > 0:
            b = self.rfile.read(min(n, 65536))
            if not b:
                break
            h.update(b)
            n -= len(b)
        self.reply((h.hexdigest() + "\n").encode())


class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    servers = [S(("127.0.0.1", int(p)), H) for p in sys.argv[1:]]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("app-ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()

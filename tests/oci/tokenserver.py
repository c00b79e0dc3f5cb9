#!/usr/bin/env python3
"""A tiny Docker registry token server for the tests (distribution token auth spec).

  tokenserver.py PORTFILE KEY.pem CERT.pem ISSUER SERVICE [USER:PASS]

Listens on 127.0.0.1 (free port, written to PORTFILE).  GET /token?service=&scope=
returns {"token": JWT, "access_token": JWT, "expires_in": 300}; the JWT is RS256,
signed with KEY.pem via the openssl command, carrying CERT.pem in its x5c header so
docker-registry (auth.token.rootcertbundle = CERT.pem) accepts it.  With USER:PASS,
requests without those Basic credentials get 401.  Every request is appended to
PORTFILE.log (path, and whether an Authorization header came)."""
import base64, json, os, subprocess, sys, time, uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlparse, parse_qs

portfile, key, cert, issuer, service = sys.argv[1:6]
creds = sys.argv[6] if len(sys.argv) > 6 else None
der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], stdout=subprocess.PIPE,
                     check=True).stdout


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def make_token(sub, scopes):
    access = []
    for s in scopes:
        parts = s.split(":")
        if len(parts) >= 3 and parts[0] == "repository":
            access.append({"type": "repository", "name": ":".join(parts[1:-1]),
                           "actions": [a for a in parts[-1].split(",") if a in ("pull", "push")]})
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    claims = {"iss": issuer, "sub": sub, "aud": service, "exp": now + 300, "nbf": now - 10, "iat": now,
              "jti": uuid.uuid4().hex, "access": access}
    signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing_input,
                         stdout=subprocess.PIPE, check=True).stdout
    return signing_input.decode() + "." + b64url(sig)


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        u = urlparse(self.path)
        auth = self.headers.get("Authorization")
        with open(portfile + ".log", "a") as f:
            f.write("%s auth=%s\n" % (self.path, "yes" if auth else "no"))
        if u.path != "/token":
            self.send_response(404)
            self.end_headers()
            return
        q = parse_qs(u.query)
        user = ""
        if creds:
            want = "Basic " + base64.b64encode(creds.encode()).decode()
            if auth != want:
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"details":"bad credentials"}')
                return
            user = creds.split(":")[0]
        if q.get("service", [""])[0] != service:
            self.send_response(400)
            self.end_headers()
            return
        tok = make_token(user, q.get("scope", []))
        body = json.dumps({"token": tok, "access_token": tok, "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


srv = HTTPServer(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()

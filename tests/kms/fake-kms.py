#!/usr/bin/env python3
"""A strict fake of AWS KMS and EC2 IMDSv2 for the KMS proxy's tests (stdlib + openssl CLI).

  fake-kms.py --dir DIR --enclaver ENCLAVER --root ROOT.pem [--token-ttl-cap S]
              [--cred-ttl S] [--region R]

Serves on 127.0.0.1: IMDSv2 over plain HTTP and KMS (AWS JSON 1.1) over HTTPS with a
certificate for the name "host" made by a CA in DIR.  When ready it writes
DIR/ports.json {"imds", "kms", "ca", "pid"}; each request is one JSON line in
DIR/requests.log.

IMDS is strict the way the real one is: a session token (PUT with a TTL header, no
X-Forwarded-For) is needed for every GET, expires after min(TTL, --token-ttl-cap)
seconds (401 after), and the role's credentials rotate every --cred-ttl seconds.

KMS checks what the real service checks: POST / with the JSON 1.1 headers, a SigV4
signature recomputed here with the secret of a live IMDS credential set (its session
token signed and equal), the date within 5 minutes, region and service of the scope.
The five attesting actions with a Recipient need a document that `ENCLAVER verify
--attestation --root ROOT` accepts and that carries an RSA-2048 public key; their
secret then goes only into CiphertextForRecipient, a CMS EnvelopedData made with
`openssl cms` (RSAES-OAEP SHA-256, AES-256-CBC, recipient by SKI = SHA-256 of the SPKI).
Other actions must not carry a Recipient.
"""
import argparse
import base64
import calendar
import hashlib
import hmac
import http.server
import json
import os
import secrets
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time

LOCK = threading.Lock()
ATTESTING = {"Decrypt": "Plaintext", "GenerateDataKey": "Plaintext", "GenerateRandom": "Plaintext",
             "GenerateDataKeyPair": "PrivateKeyPlaintext", "DeriveSharedSecret": "SharedSecret"}
BLOB_KEY = secrets.token_bytes(32)
ROLE = "enclaver-test-role"


def openssl(*args, inp=None):
    r = subprocess.run(["openssl"] + list(args), input=inp, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (args[0], r.stderr.decode(errors="replace")))
    return r.stdout


class State:
    def __init__(self, a):
        self.a = a
        self.tokens = {}   # token -> expiry
        self.creds = []    # dicts: akid, secret, token, expires
        self.log = open(os.path.join(a.dir, "requests.log"), "a")

    def record(self, **kw):
        with LOCK:
            self.log.write(json.dumps(kw) + "\n")
            self.log.flush()

    def current_creds(self):
        with LOCK:
            now = time.time()
            if not self.creds or self.creds[-1]["expires"] <= now + 1:
                self.creds.append({"akid": "ASIA" + secrets.token_hex(8).upper(),
                                   "secret": base64.b64encode(secrets.token_bytes(30)).decode(),
                                   "token": base64.b64encode(secrets.token_bytes(48)).decode(),
                                   "expires": now + self.a.cred_ttl})
            return dict(self.creds[-1])

    def creds_of(self, akid):
        with LOCK:
            for c in self.creds:
                if c["akid"] == akid:
                    return dict(c)
        return None


# ---- the fake's ciphertext blobs: keyid, plaintext, sealed with an HMAC tag ----

def stream(n, nonce):
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(BLOB_KEY + nonce + i.to_bytes(4, "big")).digest()
        i += 1
    return out[:n]


def seal(keyid, plain):
    nonce = secrets.token_bytes(16)
    body = len(keyid).to_bytes(2, "big") + keyid.encode() + plain
    ct = bytes(x ^ y for x, y in zip(body, stream(len(body), nonce)))
    tag = hmac.new(BLOB_KEY, nonce + ct, hashlib.sha256).digest()
    return b"FKMS" + nonce + ct + tag


def unseal(blob):
    if len(blob) < 4 + 16 + 2 + 32 or blob[:4] != b"FKMS":
        raise KmsError("InvalidCiphertextException", "not a ciphertext of this KMS")
    nonce, ct, tag = blob[4:20], blob[20:-32], blob[-32:]
    if not hmac.compare_digest(tag, hmac.new(BLOB_KEY, nonce + ct, hashlib.sha256).digest()):
        raise KmsError("InvalidCiphertextException", "the ciphertext is damaged")
    body = bytes(x ^ y for x, y in zip(ct, stream(len(ct), nonce)))
    n = int.from_bytes(body[:2], "big")
    return body[2:2 + n].decode(), body[2 + n:]


class KmsError(Exception):
    def __init__(self, typ, msg, status=400):
        super().__init__(msg)
        self.typ, self.status = typ, status


# ---- a small CBOR reader for the document's payload ----

def cbor(b, i=0, depth=0):
    if depth > 16 or i >= len(b):
        raise KmsError("ValidationException", "malformed attestation document")
    ib = b[i]
    major, ai = ib >> 5, ib & 31
    i += 1
    if ai < 24:
        v = ai
    elif ai <= 27:
        n = 1 << (ai - 24)
        v = int.from_bytes(b[i:i + n], "big")
        i += n
    else:
        raise KmsError("ValidationException", "indefinite CBOR in the attestation document")
    if major == 0:
        return v, i
    if major == 1:
        return -1 - v, i
    if major in (2, 3):
        s = b[i:i + v]
        return (s if major == 2 else s.decode()), i + v
    if major == 4:
        out = []
        for _ in range(v):
            x, i = cbor(b, i, depth + 1)
            out.append(x)
        return out, i
    if major == 5:
        out = {}
        for _ in range(v):
            k, i = cbor(b, i, depth + 1)
            out[k], i = cbor(b, i, depth + 1)
        return out, i
    if major == 6:
        return cbor(b, i, depth + 1)
    if major == 7 and v in (20, 21, 22):
        return {20: False, 21: True, 22: None}[v], i
    raise KmsError("ValidationException", "unexpected CBOR in the attestation document")


def recipient_public_key(st, rec):
    if not isinstance(rec, dict) or set(rec) != {"AttestationDocument", "KeyEncryptionAlgorithm"}:
        raise KmsError("ValidationException", "Recipient must have exactly AttestationDocument and KeyEncryptionAlgorithm")
    if rec["KeyEncryptionAlgorithm"] != "RSAES_OAEP_SHA_256":
        raise KmsError("ValidationException", "KeyEncryptionAlgorithm must be RSAES_OAEP_SHA_256")
    try:
        doc = base64.b64decode(rec["AttestationDocument"], validate=True)
    except Exception:
        raise KmsError("ValidationException", "AttestationDocument is not base64")
    if not 1 <= len(doc) <= 262144:
        raise KmsError("ValidationException", "AttestationDocument size")
    with tempfile.NamedTemporaryFile(dir=st.a.dir, suffix=".cbor") as f:
        f.write(doc)
        f.flush()
        r = subprocess.run([st.a.enclaver, "verify", "--attestation", f.name, "--root", st.a.root],
                           capture_output=True)
    if r.returncode != 0:
        raise KmsError("ValidationException", "the attestation document does not verify: %s"
                       % r.stderr.decode(errors="replace").strip())
    cose, _ = cbor(doc)
    payload, _ = cbor(cose[2])
    pk = payload.get("public_key")
    if not isinstance(pk, bytes):
        raise KmsError("ValidationException", "the attestation document has no public_key")
    text = openssl("pkey", "-pubin", "-inform", "DER", "-text_pub", "-noout", inp=pk).decode()
    if "Public-Key: (2048 bit)" not in text or "Modulus" not in text:
        raise KmsError("ValidationException", "public_key is not an RSA-2048 SubjectPublicKeyInfo")
    return pk


def cms_for(st, spki, secret):
    with tempfile.TemporaryDirectory(dir=st.a.dir) as d:
        pub = os.path.join(d, "pub.pem")
        with open(pub, "wb") as f:
            f.write(openssl("pkey", "-pubin", "-inform", "DER", "-outform", "PEM", inp=spki))
        ski = hashlib.sha256(spki).hexdigest().upper()
        ext = os.path.join(d, "ext")
        with open(ext, "w") as f:
            f.write("subjectKeyIdentifier=%s\n" % ":".join(ski[i:i + 2] for i in range(0, 64, 2)))
        cert = os.path.join(d, "cert.pem")
        openssl("x509", "-new", "-force_pubkey", pub, "-subj", "/CN=recipient", "-key",
                os.path.join(st.a.dir, "recipient-ca.key"), "-days", "1", "-extfile", ext, "-out", cert)
        return openssl("cms", "-encrypt", "-binary", "-aes-256-cbc", "-keyid", "-recip", cert,
                       "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256",
                       "-keyopt", "rsa_mgf1_md:sha256", "-outform", "DER", inp=secret)


# ---- SigV4 verification ----

def check_sigv4(st, method, path, query, headers, body):
    auth = headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        raise KmsError("MissingAuthenticationTokenException", "no SigV4 Authorization")
    fields = {}
    for part in auth[len("AWS4-HMAC-SHA256 "):].split(","):
        k, _, v = part.strip().partition("=")
        fields[k] = v
    try:
        akid, date8, region, service, term = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
        sig = fields["Signature"]
    except (KeyError, ValueError):
        raise KmsError("IncompleteSignatureException", "malformed Authorization")
    c = st.creds_of(akid)
    if c is None:
        raise KmsError("UnrecognizedClientException", "The security token included in the request is invalid.")
    if c["expires"] <= time.time():
        raise KmsError("ExpiredTokenException", "The security token included in the request is expired")
    if term != "aws4_request" or service != "kms" or region != st.a.region:
        raise KmsError("InvalidSignatureException", "Credential should be scoped to a valid region/service")
    if signed != sorted(signed) or not {"host", "x-amz-date", "x-amz-security-token"} <= set(signed):
        raise KmsError("InvalidSignatureException", "host, x-amz-date and x-amz-security-token must be signed, sorted")
    if headers.get("x-amz-security-token") != c["token"]:
        raise KmsError("UnrecognizedClientException", "The security token included in the request is invalid.")
    amz = headers.get("x-amz-date", "")
    try:
        t = calendar.timegm(time.strptime(amz, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        raise KmsError("InvalidSignatureException", "bad x-amz-date")
    if abs(t - time.time()) > 300 or amz[:8] != date8:
        raise KmsError("InvalidSignatureException", "Signature expired")
    bh = hashlib.sha256(body).hexdigest()
    if "x-amz-content-sha256" in headers and headers["x-amz-content-sha256"] != bh:
        raise KmsError("InvalidSignatureException", "x-amz-content-sha256 is not the body's hash")
    canon = "\n".join([method, path, query]
                      + ["%s:%s" % (h, " ".join(headers.get(h, "").split())) for h in signed]
                      + ["", ";".join(signed), bh])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz, "/".join([date8, region, service, term]),
                     hashlib.sha256(canon.encode()).hexdigest()])
    k = ("AWS4" + c["secret"]).encode()
    for m in (date8, region, service, term):
        k = hmac.new(k, m.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(hmac.new(k, sts.encode(), hashlib.sha256).hexdigest(), sig):
        raise KmsError("InvalidSignatureException", "The request signature we calculated does not match the signature you provided.")
    return akid


def b64field(req, key, lo=1, hi=65536):
    v = req.get(key)
    try:
        b = base64.b64decode(v, validate=True)
    except Exception:
        raise KmsError("ValidationException", "%s must be base64" % key)
    if not lo <= len(b) <= hi:
        raise KmsError("ValidationException", "%s length %d" % (key, len(b)))
    return b


def nbytes(req, lo=1, hi=1024):
    n = req.get("NumberOfBytes")
    if not isinstance(n, int) or isinstance(n, bool) or not lo <= n <= hi:
        raise KmsError("ValidationException", "NumberOfBytes must be %d-%d" % (lo, hi))
    return n


def act(action, req):
    """(answer fields, the secret or None)"""
    kid = req.get("KeyId", "alias/test")
    if action == "Encrypt":
        return {"CiphertextBlob": base64.b64encode(seal(kid, b64field(req, "Plaintext", 1, 4096))).decode(),
                "KeyId": kid, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}, None
    if action == "Decrypt":
        kid, plain = unseal(b64field(req, "CiphertextBlob", 1, 6144))
        return {"KeyId": kid, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}, plain
    if action == "GenerateDataKey":
        n = {"AES_256": 32, "AES_128": 16}.get(req.get("KeySpec")) or nbytes(req)
        key = secrets.token_bytes(n)
        return {"CiphertextBlob": base64.b64encode(seal(kid, key)).decode(), "KeyId": kid}, key
    if action == "GenerateRandom":
        return {}, secrets.token_bytes(nbytes(req))
    if action == "GenerateDataKeyPair":
        spec = req.get("KeyPairSpec")
        if spec == "RSA_2048":
            pem = openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
        elif spec == "ECC_NIST_P256":
            pem = openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
        else:
            raise KmsError("ValidationException", "KeyPairSpec")
        der = openssl("pkey", "-outform", "DER", inp=pem)
        pub = openssl("pkey", "-pubout", "-outform", "DER", inp=pem)
        return {"PrivateKeyCiphertextBlob": base64.b64encode(seal(kid, der)).decode(),
                "PublicKey": base64.b64encode(pub).decode(), "KeyId": kid, "KeyPairSpec": spec}, der
    if action == "DeriveSharedSecret":
        if req.get("KeyAgreementAlgorithm") != "ECDH":
            raise KmsError("ValidationException", "KeyAgreementAlgorithm must be ECDH")
        pub = b64field(req, "PublicKey")
        return {"KeyId": kid, "KeyAgreementAlgorithm": "ECDH", "KeyOrigin": "AWS_KMS"}, \
            hashlib.sha256(kid.encode() + pub).digest()
    if action == "DescribeKey":
        return {"KeyMetadata": {"KeyId": kid, "Enabled": True}}, None
    raise KmsError("UnknownOperationException", "unknown operation %s" % action)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def make_handler(st, service):
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def send(self, status, body, ctype, extra=()):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        # ---- IMDS ----
        def imds(self, method):
            self.body()
            tok = self.headers.get("X-aws-ec2-metadata-token")
            if method == "PUT" and self.path == "/latest/api/token":
                if self.headers.get("X-Forwarded-For"):
                    return self.imds_answer(method, 403, b"Forbidden", None)
                try:
                    ttl = int(self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", ""))
                except ValueError:
                    ttl = 0
                if not 1 <= ttl <= 21600:
                    return self.imds_answer(method, 400, b"Bad Request", None)
                ttl = min(ttl, st.a.token_ttl_cap)
                t = secrets.token_urlsafe(32)
                with LOCK:
                    st.tokens[t] = time.time() + ttl
                return self.imds_answer(method, 200, t.encode(), None,
                                        [("X-aws-ec2-metadata-token-ttl-seconds", str(ttl))])
            with LOCK:
                ok = tok is not None and st.tokens.get(tok, 0) > time.time()
            if method != "GET":
                return self.imds_answer(method, 405, b"", ok)
            if not ok:
                return self.imds_answer(method, 401, b"", ok)
            p = self.path
            if p == "/latest/meta-data/placement/region":
                return self.imds_answer(method, 200, st.a.region.encode(), ok)
            if p in ("/latest/meta-data/iam/security-credentials", "/latest/meta-data/iam/security-credentials/"):
                return self.imds_answer(method, 200, ROLE.encode(), ok)
            if p == "/latest/meta-data/iam/security-credentials/" + ROLE:
                c = st.current_creds()
                doc = {"Code": "Success", "LastUpdated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "Type": "AWS-HMAC", "AccessKeyId": c["akid"], "SecretAccessKey": c["secret"],
                       "Token": c["token"],
                       "Expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(c["expires"]))}
                return self.imds_answer(method, 200, json.dumps(doc).encode(), ok)
            return self.imds_answer(method, 404, b"", ok)

        def imds_answer(self, method, status, body, ok, extra=()):
            st.record(service="imds", method=method, path=self.path, status=status, token_ok=ok)
            self.send(status, body, "text/plain", extra)

        # ---- KMS ----
        def kms(self, method):
            body = self.body()
            action = None
            akid = None
            try:
                path, _, query = self.path.partition("?")
                if method != "POST" or path != "/" or query:
                    raise KmsError("UnknownOperationException", "KMS takes POST / without a query")
                if self.headers.get("Content-Type") != "application/x-amz-json-1.1":
                    raise KmsError("SerializationException", "Content-Type must be application/x-amz-json-1.1")
                tgt = self.headers.get("X-Amz-Target", "")
                if not tgt.startswith("TrentService.") or "host" not in {k.lower() for k in self.headers}:
                    raise KmsError("UnknownOperationException", "X-Amz-Target TrentService.<Action> and Host are needed")
                action = tgt[len("TrentService."):]
                hdrs = {k.lower(): v for k, v in self.headers.items()}
                akid = check_sigv4(st, method, path, query, hdrs, body)
                try:
                    req = json.loads(body)
                except ValueError:
                    raise KmsError("SerializationException", "the body is not JSON")
                if not isinstance(req, dict):
                    raise KmsError("SerializationException", "the body is not a JSON object")
                rec = req.pop("Recipient", None)
                if rec is not None and action not in ATTESTING:
                    raise KmsError("ValidationException", "%s does not take a Recipient" % action)
                spki = recipient_public_key(st, rec) if rec is not None else None
                out, secret = act(action, req)
                if secret is not None:
                    if spki is not None:
                        out["CiphertextForRecipient"] = base64.b64encode(cms_for(st, spki, secret)).decode()
                    else:
                        out[ATTESTING[action]] = base64.b64encode(secret).decode()
                st.record(service="kms", action=action, status=200, akid=akid, recipient=spki is not None,
                          plaintext_b64=base64.b64encode(secret).decode() if secret is not None else None,
                          error=None)
                self.send(200, json.dumps(out).encode(), "application/x-amz-json-1.1",
                          [("x-amzn-RequestId", secrets.token_hex(8))])
            except KmsError as e:
                st.record(service="kms", action=action, status=e.status, akid=akid, recipient=None,
                          plaintext_b64=None, error=e.typ, message=str(e))
                self.send(e.status, json.dumps({"__type": e.typ, "message": str(e)}).encode(),
                          "application/x-amz-json-1.1")

        def handle_any(self, method):
            (self.imds if service == "imds" else self.kms)(method)

        def do_GET(self):
            self.handle_any("GET")

        def do_PUT(self):
            self.handle_any("PUT")

        def do_POST(self):
            self.handle_any("POST")

    return H


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--enclaver", required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--token-ttl-cap", type=int, default=21600)
    p.add_argument("--cred-ttl", type=int, default=3600)
    p.add_argument("--region", default="us-east-1")
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    d = a.dir
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=fake-kms-ca",
            "-keyout", d + "/ca.key", "-out", d + "/ca.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=host", "-keyout", d + "/srv.key",
            "-out", d + "/srv.csr")
    with open(d + "/srv.ext", "w") as f:
        f.write("subjectAltName=DNS:host,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", d + "/srv.csr", "-CA", d + "/ca.pem", "-CAkey", d + "/ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", d + "/srv.ext", "-out", d + "/srv.pem")
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", d + "/recipient-ca.key")
    st = State(a)
    imds = Server(("127.0.0.1", 0), make_handler(st, "imds"))
    kms = Server(("127.0.0.1", 0), make_handler(st, "kms"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d + "/srv.pem", d + "/srv.key")
    kms.socket = ctx.wrap_socket(kms.socket, server_side=True)
    for s in (imds, kms):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    with open(d + "/ports.json.tmp", "w") as f:
        json.dump({"imds": imds.server_address[1], "kms": kms.server_address[1], "ca": d + "/ca.pem",
                   "pid": os.getpid()}, f)
    os.rename(d + "/ports.json.tmp", d + "/ports.json")
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())

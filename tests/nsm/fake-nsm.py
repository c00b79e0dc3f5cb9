#!/usr/bin/env python3
"""A strict fake Nitro Secure Module for the tests (python3 stdlib + the openssl CLI).

  fake-nsm.py SOCKET CADIR [PIDFILE]

Listens on the Unix socket SOCKET and speaks the NSM client's test seam
(runtime/nsm.h): per connection, a 4-byte big-endian length and the request CBOR in,
a 4-byte big-endian length and the response CBOR out -- the bytes the NSM ioctl carries.

It checks requests the way the NSM and its serde_cbor decoder do, and more strictly
where that catches an encoder bug: definite lengths, shortest integer heads, no
trailing bytes, the request names of ATTESTATION.md §2.2, the field names (Attestation:
exactly user_data, nonce, public_key in that order), the field types (byte string or
null), and the limits user_data <= 512, nonce <= 512, public_key <= 1024 bytes, request
<= 4096 bytes.  A request it refuses gets the NSM's own {"Error": CODE} answer.

Attestation answers are real COSE_Sign1 documents (ES384) signed by a test CA it
creates in CADIR with openssl (CADIR/root.pem is the root to give `enclaver verify
--root`), carrying the requested nonce, user_data and public_key.  PCRs 0-15 are
locked; their values are in CADIR/pcrs.json.  Every request is logged as one line of
JSON to CADIR/requests.log.
"""
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

REQUEST_MAX = 4096
LIMITS = {"user_data": 512, "nonce": 512, "public_key": 1024}


class Bad(Exception):
    """A request the NSM refuses: .code is the ErrorCode name it answers with."""

    def __init__(self, code, why):
        super().__init__(why)
        self.code = code


# ---- CBOR ----

def enc_head(major, v):
    if v < 24:
        return bytes([major << 5 | v])
    for n, ai in ((1, 24), (2, 25), (4, 26), (8, 27)):
        if v < 1 << (8 * n):
            return bytes([major << 5 | ai]) + v.to_bytes(n, "big")
    raise ValueError(v)


def enc(x):
    if x is None:
        return b"\xf6"
    if x is True:
        return b"\xf5"
    if x is False:
        return b"\xf4"
    if isinstance(x, int):
        return enc_head(0, x) if x >= 0 else enc_head(1, -1 - x)
    if isinstance(x, (bytes, bytearray)):
        return enc_head(2, len(x)) + bytes(x)
    if isinstance(x, str):
        b = x.encode()
        return enc_head(3, len(b)) + b
    if isinstance(x, list):
        return enc_head(4, len(x)) + b"".join(enc(i) for i in x)
    if isinstance(x, dict):  # insertion order, as serde writes struct fields
        return enc_head(5, len(x)) + b"".join(enc(k) + enc(v) for k, v in x.items())
    raise TypeError(type(x))


class Dec:
    """Strict decoder: every violation is InvalidOperation (undecodable request)."""

    def __init__(self, b):
        self.b, self.i = b, 0

    def head(self):
        if self.i >= len(self.b):
            raise Bad("InvalidOperation", "truncated at offset %d" % self.i)
        ib = self.b[self.i]
        major, ai = ib >> 5, ib & 31
        if ai < 24:
            self.i += 1
            return major, ai
        if ai > 27:
            raise Bad("InvalidOperation", "indefinite or reserved head 0x%02x at %d" % (ib, self.i))
        n = 1 << (ai - 24)
        if self.i + 1 + n > len(self.b):
            raise Bad("InvalidOperation", "truncated head at %d" % self.i)
        v = int.from_bytes(self.b[self.i + 1:self.i + 1 + n], "big")
        if major != 7 and (v < 24 if n == 1 else v < 1 << (4 * n)):
            raise Bad("InvalidOperation", "non-minimal head 0x%02x at %d" % (ib, self.i))
        self.i += 1 + n
        return major, v

    def item(self, depth=0):
        if depth > 8:
            raise Bad("InvalidOperation", "nested too deeply")
        start = self.i
        major, v = self.head()
        if major in (2, 3):
            if self.i + v > len(self.b):
                raise Bad("InvalidOperation", "string overruns the request at %d" % start)
            s = self.b[self.i:self.i + v]
            self.i += v
            if major == 3:
                try:
                    return s.decode("utf-8")
                except UnicodeDecodeError:
                    raise Bad("InvalidOperation", "text is not UTF-8 at %d" % start)
            return ("bytes", bytes(s))
        if major == 0:
            return v
        if major == 1:
            return -1 - v
        if major == 4:
            return [self.item(depth + 1) for _ in range(v)]
        if major == 5:
            out = []
            for _ in range(v):
                k = self.item(depth + 1)
                out.append((k, self.item(depth + 1)))
            return ("map", out)
        if major == 7:
            if v == 22:
                return None
            if v in (20, 21):
                return v == 21
        raise Bad("InvalidOperation", "unexpected CBOR item 0x%02x at %d" % (self.b[start], start))


def decode_request(b):
    d = Dec(b)
    x = d.item()
    if d.i != len(b):
        raise Bad("InvalidOperation", "%d trailing bytes" % (len(b) - d.i))
    return x


# ---- the test CA ----

def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def make_ca(d):
    """root (self-signed) -> intermediate -> leaf, all P-384 / ecdsa-with-SHA384."""
    if os.path.exists(os.path.join(d, "leaf.key")):
        return
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("[root]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,"
                "digitalSignature\nsubjectKeyIdentifier=hash\n"
                "[inter]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,"
                "cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
                "[leaf]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=digitalSignature,nonRepudiation\n")
    for n in ("root", "inter", "leaf"):
        openssl("ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", os.path.join(d, n + ".key"))
    p = lambda n: os.path.join(d, n)
    openssl("req", "-x509", "-new", "-key", p("root.key"), "-sha384", "-days", "30",
            "-subj", "/CN=enclaver-test-nitro-root", "-extensions", "root", "-config", ext,
            "-out", p("root.pem"))
    for n, issuer, days in (("inter", "root", "20"), ("leaf", "inter", "2")):
        openssl("req", "-new", "-key", p(n + ".key"), "-subj", "/CN=enclaver-test-" + n,
                "-out", p(n + ".csr"), "-config", ext)
        openssl("x509", "-req", "-in", p(n + ".csr"), "-CA", p(issuer + ".pem"), "-CAkey",
                p(issuer + ".key"), "-CAcreateserial", "-sha384", "-days", days, "-extfile", ext,
                "-extensions", n, "-out", p(n + ".pem"))
    for n in ("root", "inter", "leaf"):
        openssl("x509", "-in", p(n + ".pem"), "-outform", "DER", "-out", p(n + ".der"))
    pcrs = {}
    for k in range(16):
        pcrs[k] = hashlib.sha384(b"enclaver fake NSM PCR %d" % k).hexdigest() if k in (0, 1, 2, 3, 4) \
            else "00" * 48
    with open(p("pcrs.json"), "w") as f:
        json.dump({"PCR%d" % k: v for k, v in pcrs.items()}, f)


class NSM:
    def __init__(self, d):
        self.d = d
        make_ca(d)
        rd = lambda n: open(os.path.join(d, n), "rb").read()
        self.root, self.inter, self.leaf = rd("root.der"), rd("inter.der"), rd("leaf.der")
        self.pcrs = {int(k[3:]): bytes.fromhex(v)
                     for k, v in json.load(open(os.path.join(d, "pcrs.json"))).items()}
        for k in range(16, 32):
            self.pcrs[k] = bytes(48)
        self.log = open(os.path.join(d, "requests.log"), "a", buffering=1)

    def sign(self, payload):
        prot = enc({1: -35})
        tbs = enc(["Signature1", prot, b"", payload])
        with tempfile.NamedTemporaryFile(dir=self.d) as t:
            t.write(tbs)
            t.flush()
            der = subprocess.run(["openssl", "dgst", "-sha384", "-sign",
                                  os.path.join(self.d, "leaf.key"), t.name],
                                 check=True, capture_output=True).stdout
        # ECDSA-Sig-Value DER -> raw r||s (48 bytes each)
        assert der[0] == 0x30
        i = 3 if der[1] & 0x80 else 2
        out = b""
        for _ in range(2):
            assert der[i] == 0x02
            n = der[i + 1]
            out += int.from_bytes(der[i + 2:i + 2 + n], "big").to_bytes(48, "big")
            i += 2 + n
        return enc([prot, {}, payload, out])

    def attestation(self, fields):
        if not (isinstance(fields, tuple) and fields[0] == "map"):
            raise Bad("InvalidOperation", "Attestation body is not a map")
        keys = [k for k, _ in fields[1]]
        if keys != ["user_data", "nonce", "public_key"]:
            raise Bad("InvalidOperation", "Attestation fields are %r, not user_data, nonce, public_key" % keys)
        vals = {}
        for k, v in fields[1]:
            if v is None:
                vals[k] = None
                continue
            if not (isinstance(v, tuple) and v[0] == "bytes"):
                raise Bad("InvalidOperation", "%s is not a byte string or null" % k)
            if len(v[1]) > LIMITS[k]:
                raise Bad("InputTooLarge", "%s of %d bytes, over %d" % (k, len(v[1]), LIMITS[k]))
            vals[k] = v[1]
        payload = enc({
            "module_id": "i-0123456789abcdef0-enc0123456789abcdef",
            "digest": "SHA384",
            "timestamp": int(time.time() * 1000),
            "pcrs": {k: self.pcrs[k] for k in range(16)},
            "certificate": self.leaf,
            "cabundle": [self.root, self.inter],
            "public_key": vals["public_key"],
            "user_data": vals["user_data"],
            "nonce": vals["nonce"],
        })
        return {"Attestation": {"document": self.sign(payload)}}

    def answer(self, req):
        if len(req) > REQUEST_MAX:
            raise Bad("InputTooLarge", "request of %d bytes" % len(req))
        x = decode_request(req)
        if x == "GetRandom":
            return {"GetRandom": {"random": os.urandom(256)}}
        if x == "DescribeNSM":
            return {"DescribeNSM": {"version_major": 1, "version_minor": 0, "version_patch": 0,
                                    "module_id": "i-0123456789abcdef0-enc0123456789abcdef",
                                    "max_pcrs": 32, "locked_pcrs": list(range(16)), "digest": "SHA384"}}
        if isinstance(x, tuple) and x[0] == "map" and len(x[1]) == 1:
            name, body = x[1][0]
            if name == "Attestation":
                return self.attestation(body)
            if name == "DescribePCR":
                if not (isinstance(body, tuple) and body[0] == "map" and len(body[1]) == 1
                        and body[1][0][0] == "index" and isinstance(body[1][0][1], int)
                        and not isinstance(body[1][0][1], bool) and 0 <= body[1][0][1] < 65536):
                    raise Bad("InvalidOperation", "DescribePCR body is not {index: u16}")
                idx = body[1][0][1]
                if idx >= 32:
                    raise Bad("InvalidIndex", "PCR %d" % idx)
                return {"DescribePCR": {"lock": idx < 16, "data": self.pcrs[idx]}}
        raise Bad("InvalidOperation", "unknown request %r" % (x,))

    def handle(self, conn):
        conn.settimeout(10)
        hdr = b""
        while len(hdr) < 4:
            c = conn.recv(4 - len(hdr))
            if not c:
                return
            hdr += c
        n = int.from_bytes(hdr, "big")
        if n > 65536:
            self.log.write(json.dumps({"error": "frame of %d bytes" % n}) + "\n")
            return
        req = b""
        while len(req) < n:
            c = conn.recv(n - len(req))
            if not c:
                return
            req += c
        entry = {"request": req.hex()}
        try:
            resp = self.answer(req)
            entry["answer"] = next(iter(resp))
        except Bad as e:
            resp = {"Error": e.code}
            entry["answer"] = "Error"
            entry["code"] = e.code
            entry["why"] = str(e)
        out = enc(resp)
        self.log.write(json.dumps(entry) + "\n")
        conn.sendall(len(out).to_bytes(4, "big") + out)


def main():
    path, d = sys.argv[1], sys.argv[2]
    os.makedirs(d, exist_ok=True)
    nsm = NSM(d)
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(16)
    if len(sys.argv) > 3:
        with open(sys.argv[3] + ".tmp", "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(sys.argv[3] + ".tmp", sys.argv[3])
    while True:
        conn, _ = s.accept()
        try:
            nsm.handle(conn)
        except (OSError, socket.timeout):
            pass
        finally:
            conn.close()


main()

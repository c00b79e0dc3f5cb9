#!/usr/bin/env python3
"""enclaver tests: make altered copies of attestation documents, and documents signed
by a test CA (python3 stdlib only; the signature itself is made by `openssl dgst`).

  mutate.py OP IN OUT          OP: payload sig cert0..cert3 leaf reorder alg truncate
                                   tag b64 hex extract-leaf
  mutate.py tbs DIR TS PCRHEX0 PCRHEX1 PCRHEX2 LEAF.der CA.der...   -> DIR/tbs, DIR/payload
  mutate.py assemble DIR OUT   (DIR/sig.der from openssl) -> COSE_Sign1 document
"""
import base64
import sys


def head(b, i):
    """(major, value, offset after the head) of the CBOR item at b[i]."""
    ib = b[i]
    major, ai = ib >> 5, ib & 31
    if ai < 24:
        return major, ai, i + 1
    n = 1 << (ai - 24)
    return major, int.from_bytes(b[i + 1:i + 1 + n], "big"), i + 1 + n


def skip(b, i):
    major, v, j = head(b, i)
    if major in (2, 3):
        return j + v
    if major == 4:
        for _ in range(v):
            j = skip(b, j)
        return j
    if major == 5:
        for _ in range(2 * v):
            j = skip(b, j)
        return j
    if major == 6:
        return skip(b, j)
    return j


def bstr(b, i):
    """(content start, content end) of the byte string at b[i]."""
    major, v, j = head(b, i)
    assert major == 2, "expected a byte string at %d" % i
    return j, j + v


def layout(doc):
    """Absolute offsets of the parts of a document the tests alter."""
    i = 1 if doc[0] == 0xD2 else 0
    _, n, i = head(doc, i)
    assert n == 4
    out = {"protected": bstr(doc, i)}
    i = out["protected"][1]
    i = skip(doc, i)  # unprotected
    out["payload"] = bstr(doc, i)
    out["sig"] = bstr(doc, out["payload"][1])
    p = out["payload"][0]
    _, nkeys, p = head(doc, p)
    for _ in range(nkeys):
        _, kl, p = head(doc, p)
        key = doc[p:p + kl].decode()
        p += kl
        if key == "certificate":
            out["leaf"] = bstr(doc, p)
        elif key == "cabundle":
            _, nc, q = head(doc, p)
            out["cabundle_start"] = q
            for c in range(nc):
                out["cert%d" % c] = bstr(doc, q)
                q = out["cert%d" % c][1]
            out["cabundle_end"] = q
        elif key == "pcrs":
            _, npcr, q = head(doc, p)
            for _ in range(npcr):
                _, k, q = head(doc, q)
                out["pcr%d" % k] = bstr(doc, q)
                q = out["pcr%d" % k][1]
        p = skip(doc, p)
    return out


def flip(doc, off):
    doc[off] ^= 0x01
    return doc


def mutate(op, doc):
    lay = layout(doc)
    if op == "payload":
        return flip(doc, lay["pcr4"][0] + 10)
    if op == "sig":
        return flip(doc, lay["sig"][0] + 5)
    if op in ("cert0", "cert1", "cert2", "cert3", "leaf"):
        # The last byte of a certificate lies in its issuer's signature value: the
        # certificate still parses, but no longer verifies.
        return flip(doc, lay[op][1] - 1)
    if op == "reorder":
        # Swap cabundle[1] and cabundle[2]: same bytes, same length, other order.
        a, b = lay["cert1"], lay["cert2"]
        h1 = doc[a[0] - 3:a[0]]
        h2 = doc[b[0] - 3:b[0]]
        assert h1[0] == 0x59 and h2[0] == 0x59
        part = h2 + doc[b[0]:b[1]] + h1 + doc[a[0]:a[1]]
        return doc[:a[0] - 3] + part + doc[b[1]:]
    if op == "alg":
        p = lay["protected"][0]
        assert doc[p:p + 4] == b"\xa1\x01\x38\x22"
        doc[p + 3] = 0x26  # -39 (PS512) instead of -35 (ES384)
        return doc
    if op == "truncate":
        return doc[:-10]
    if op == "tag":
        return bytearray(b"\xd2") + doc
    if op == "b64":
        return bytearray(base64.b64encode(doc) + b"\n")
    if op == "hex":
        h = doc.hex()
        return bytearray("\n".join(h[i:i + 64] for i in range(0, len(h), 64)).encode() + b"\n")
    if op == "extract-leaf":
        return doc[lay["leaf"][0]:lay["leaf"][1]]
    raise SystemExit("unknown operation " + op)


def enc_head(major, v):
    if v < 24:
        return bytes([major << 5 | v])
    for n, ai in ((1, 24), (2, 25), (4, 26), (8, 27)):
        if v < 1 << (8 * n):
            return bytes([major << 5 | ai]) + v.to_bytes(n, "big")
    raise ValueError(v)


def enc_bstr(b):
    return enc_head(2, len(b)) + b


def enc_tstr(s):
    s = s.encode()
    return enc_head(3, len(s)) + s


PROTECTED = b"\xa1\x01\x38\x22"


def make_tbs(d, ts, pcr_hex, leaf, cas):
    pcrs = enc_head(5, 16)
    for k in range(16):
        v = bytes.fromhex(pcr_hex[k]) if k < len(pcr_hex) else bytes(48)
        pcrs += enc_head(0, k) + enc_bstr(v)
    bundle = enc_head(4, len(cas)) + b"".join(enc_bstr(c) for c in cas)
    payload = (enc_head(5, 9) + enc_tstr("module_id") + enc_tstr("i-00000000000000000-enc0000000000000000")
               + enc_tstr("digest") + enc_tstr("SHA384") + enc_tstr("timestamp") + enc_head(0, ts)
               + enc_tstr("pcrs") + pcrs + enc_tstr("certificate") + enc_bstr(leaf)
               + enc_tstr("cabundle") + bundle + enc_tstr("public_key") + b"\xf6"
               + enc_tstr("user_data") + enc_bstr(b"test user data") + enc_tstr("nonce") + enc_bstr(b"\x01\x02\x03\x04"))
    tbs = enc_head(4, 4) + enc_tstr("Signature1") + enc_bstr(PROTECTED) + enc_bstr(b"") + enc_bstr(payload)
    open(d + "/payload", "wb").write(payload)
    open(d + "/tbs", "wb").write(tbs)


def der_int(b, i):
    assert b[i] == 0x02
    n = b[i + 1]
    v = int.from_bytes(b[i + 2:i + 2 + n], "big")
    return v, i + 2 + n


def assemble(d, out):
    payload = open(d + "/payload", "rb").read()
    sig = open(d + "/sig.der", "rb").read()
    assert sig[0] == 0x30
    i = 3 if sig[1] & 0x80 else 2
    r, i = der_int(sig, i)
    s, i = der_int(sig, i)
    raw = r.to_bytes(48, "big") + s.to_bytes(48, "big")
    doc = enc_head(4, 4) + enc_bstr(PROTECTED) + b"\xa0" + enc_bstr(payload) + enc_bstr(raw)
    open(out, "wb").write(doc)


def main():
    a = sys.argv[1:]
    if a[0] == "tbs":
        d, ts = a[1], int(a[2])
        make_tbs(d, ts, a[3:6], open(a[6], "rb").read(), [open(f, "rb").read() for f in a[7:]])
    elif a[0] == "assemble":
        assemble(a[1], a[2])
    else:
        doc = bytearray(open(a[1], "rb").read())
        open(a[2], "wb").write(mutate(a[0], doc))


main()

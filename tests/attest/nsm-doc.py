#!/usr/bin/env python3
"""nsm-doc.py SOCKET OUT: ask the fake NSM (tests/nsm/fake-nsm.py) on the unix socket
SOCKET for one attestation document (no nonce, user data or public key) and write its
COSE_Sign1 bytes to OUT."""
import socket
import sys


def text(t):
    b = t.encode()
    return bytes([0x60 | len(b)]) + b


def main():
    sock, out = sys.argv[1], sys.argv[2]
    # {"Attestation": {"user_data": null, "nonce": null, "public_key": null}}
    req = (b"\xa1" + text("Attestation") + b"\xa3" + text("user_data") + b"\xf6"
           + text("nonce") + b"\xf6" + text("public_key") + b"\xf6")
    c = socket.socket(socket.AF_UNIX)
    c.settimeout(30)
    c.connect(sock)
    c.sendall(len(req).to_bytes(4, "big") + req)

    def read(n):
        b = b""
        while len(b) < n:
            x = c.recv(n - len(b))
            if not x:
                sys.exit("nsm-doc.py: the fake NSM closed after %d of %d bytes" % (len(b), n))
            b += x
        return b

    r = read(int.from_bytes(read(4), "big"))
    # {"Attestation": {"document": BYTES}}: the byte string after the key.
    key = b"\x68document"
    i = r.find(key)
    if not r.startswith(b"\xa1" + text("Attestation")) or i < 0:
        sys.exit("nsm-doc.py: not an Attestation answer: %r" % r[:80])
    i += len(key)
    ai = r[i] & 31
    if r[i] >> 5 != 2 or ai not in (24, 25, 26):
        sys.exit("nsm-doc.py: the document is not a byte string with a 1-4 byte length")
    w = {24: 1, 25: 2, 26: 4}[ai]
    n = int.from_bytes(r[i + 1:i + 1 + w], "big")
    doc = r[i + 1 + w:i + 1 + w + n]
    if len(doc) != n:
        sys.exit("nsm-doc.py: the document is cut short")
    with open(out, "wb") as f:
        f.write(doc)


main()

#!/usr/bin/env python3
"""Send raw request bytes to an NSM over the NSM client's socket seam; print the answer.

  nsm-raw.py ADDR HEX [DECLARED-LENGTH]

ADDR is a Unix socket path or HOST:PORT.  The request is HEX after a 4-byte big-endian
length (DECLARED-LENGTH when given: then the write side is shut after the bytes, as a
client that dies mid-request would).  Prints the answer without its length as hex, or
nothing when the connection closed without one.  Used by tests/nsm/api.sh (the fake
NSM), tests/nsm/emu.sh and tests/boot/net.sh (the emulated NSM).
"""
import socket
import sys


def main():
    addr, req = sys.argv[1], bytes.fromhex(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else len(req)
    if ":" in addr and not addr.startswith("/"):
        host, port = addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=30)
    else:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(30)
        s.connect(addr)
    s.sendall(n.to_bytes(4, "big") + req)
    if n != len(req):
        s.shutdown(socket.SHUT_WR)
    b = b""
    try:
        while True:
            c = s.recv(65536)
            if not c:
                break
            b += c
    except ConnectionResetError:  # closed with our bytes unread: no answer
        pass
    print(b[4:].hex())


if __name__ == "__main__":
    main()

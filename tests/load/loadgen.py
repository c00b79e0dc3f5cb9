#!/usr/bin/env python3
"""Load generator of tests/load/load.sh: many connections at once from one thread
(selectors, non-blocking sockets), and the servers the test needs behind the proxies.

  loadgen.py echo PORT PORTFILE     TCP echo server on 127.0.0.1:PORT (0: any port),
                                    each line back with "echo:" before it; writes its
                                    port to PORTFILE (temp name, then rename)
  loadgen.py conns ADDR N [TARGET]  open N connections to ADDR (host:port or a Unix
                                    socket path) at once; with TARGET, each sends
                                    CONNECT TARGET first and needs a 200; then, all
                                    open, one line through each, checked; prints JSON
  loadgen.py trickle PORT TARGET N K
                                    N clients send a CONNECT head one byte every 0.2 s;
                                    meanwhile K ordinary tunnels to TARGET are made one
                                    after the other; prints JSON: what the tricklers
                                    got, when (s) they were cut off, and how many
                                    ordinary tunnels completed before the first cut
  loadgen.py status PATH N          N clients of the status stream at PATH at once;
                                    prints JSON: how many got a status line first, how
                                    many were closed
  loadgen.py slowlog PATH RATE FASTFILE OUTFILE
                                    a log client reading RATE bytes/s until FASTFILE
                                    exists, then at full speed until EOF; writes JSON
                                    to OUTFILE: bytes, the drop notes found, whether
                                    the sequence numbers have gaps only after a note
  loadgen.py taillog PATH SECS      a log client reading for SECS s; prints the bytes
  loadgen.py spew SECS GO DONE RELEASE
                                    the app: once GO exists, numbered lines as fast as
                                    it can for SECS s; then DONE (JSON: lines, bytes,
                                    longest write) and waits for RELEASE
  loadgen.py hold ADDR N TARGET READY SECS
                                    N connections echoed once, then held until the far
                                    end closes them (at most SECS s); prints JSON
  loadgen.py vmhwm PID              the process's peak RSS in KiB (VmHWM)
"""
import hashlib
import json
import os
import re
import resource
import selectors
import socket
import sys
import time


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            print(json.dumps({"skip": "RLIMIT_NOFILE hard limit %d < %d" % (hard, need)}))
            sys.exit(3)
        resource.setrlimit(resource.RLIMIT_NOFILE, (need if hard == resource.RLIM_INFINITY else hard, hard))


def sock_for(addr):
    if addr.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        return s, addr
    host, port = addr.rsplit(":", 1)
    return socket.socket(socket.AF_INET, socket.SOCK_STREAM), (host, int(port))


def echo(port, portfile):
    raise_nofile(16384)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", int(port)))
    ls.listen(4096)
    ls.setblocking(False)
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.rename(tmp, portfile)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, None)
    bufs = {}
    while True:
        for key, ev in sel.select():
            s = key.fileobj
            if s is ls:
                while True:
                    try:
                        c, _ = ls.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:  # out of descriptors: try again later
                        time.sleep(0.01)
                        break
                    c.setblocking(False)
                    bufs[c] = [b"", b""]
                    sel.register(c, selectors.EVENT_READ, None)
                continue
            inb, outb = bufs[s]
            gone = False
            if ev & selectors.EVENT_READ:
                try:
                    d = s.recv(65536)
                    if not d:
                        gone = True
                    inb += d
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    gone = True
                while b"\n" in inb:
                    line, inb = inb.split(b"\n", 1)
                    outb += b"echo:" + line + b"\n"
            if outb and not gone:
                try:
                    outb = outb[s.send(outb):]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    gone = True
            if gone:
                sel.unregister(s)
                s.close()
                del bufs[s]
                continue
            bufs[s] = [inb, outb]
            sel.modify(s, selectors.EVENT_READ | (selectors.EVENT_WRITE if outb else 0), None)


class Conn:
    def __init__(self, i, addr, target):
        self.i = i
        self.s, a = sock_for(addr)
        self.s.setblocking(False)
        self.out = b""
        self.inb = b""
        self.state = "connecting"
        # a line of its own per connection (1 KiB, from its index), checked on the way back
        self.want = b"line %d " % i + hashlib.sha256(b"%d" % i).hexdigest().encode() * 16 + b"\n"
        if target:
            self.out = b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target.encode(), target.encode())
            self.state = "head"
        else:
            self.state = "open"
        try:
            self.s.connect(a)
        except (BlockingIOError, InterruptedError):
            pass


def conns(addr, n, target=None, deadline=120):
    n = int(n)
    raise_nofile(n + 64)
    sel = selectors.DefaultSelector()
    cs = []
    result = {"opened": 0, "established": 0, "echoed": 0, "errors": {}}

    def err(c, why):
        result["errors"][why] = result["errors"].get(why, 0) + 1
        c.state = "failed"
        try:
            sel.unregister(c.s)
        except (KeyError, ValueError):
            pass
        c.s.close()

    for i in range(n):
        try:
            c = Conn(i, addr, target)
        except OSError as e:
            result["errors"]["connect: " + e.strerror] = result["errors"].get("connect: " + e.strerror, 0) + 1
            continue
        cs.append(c)
        sel.register(c.s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    result["opened"] = len(cs)
    end = time.monotonic() + deadline
    # phase 1: every connection established (the CONNECT answered), none sends its line yet
    phase = 1
    while time.monotonic() < end:
        live = [c for c in cs if c.state not in ("failed", "done")]
        if phase == 1 and all(c.state in ("open", "failed") for c in cs):
            result["established"] = sum(1 for c in cs if c.state == "open")
            phase = 2  # all open at once now: the lines
            for c in cs:
                if c.state == "open":
                    c.out += c.want
                    c.state = "echo"
                    sel.modify(c.s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
            continue
        if phase == 2 and not live:
            break
        for key, ev in sel.select(timeout=1):
            c = key.data
            if ev & selectors.EVENT_WRITE and c.out:
                try:
                    c.out = c.out[c.s.send(c.out):]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as e:
                    err(c, "send: " + (e.strerror or str(e)))
                    continue
            if ev & selectors.EVENT_READ:
                try:
                    d = c.s.recv(4096)
                except (BlockingIOError, InterruptedError):
                    d = None
                except OSError as e:
                    err(c, "recv: " + (e.strerror or str(e)))
                    continue
                if d == b"":
                    err(c, "closed in state " + c.state + (": " + c.inb.decode("latin-1").split("\r\n")[0] if c.inb else ""))
                    continue
                if d:
                    c.inb += d
            if c.state == "head" and b"\r\n\r\n" in c.inb:
                head, c.inb = c.inb.split(b"\r\n\r\n", 1)
                if head.startswith(b"HTTP/1.1 200"):
                    c.state = "open"
                else:
                    err(c, "answer: " + head.split(b"\r\n")[0].decode("latin-1"))
                    continue
            if c.state == "echo" and c.inb.endswith(b"\n"):
                if c.inb == b"echo:" + c.want:
                    result["echoed"] += 1
                else:
                    result["errors"]["wrong echo"] = result["errors"].get("wrong echo", 0) + 1
                c.state = "done"
            if c.state not in ("failed",):
                sel.modify(c.s, selectors.EVENT_READ | (selectors.EVENT_WRITE if c.out else 0), c)
    else:
        result["errors"]["deadline"] = sum(1 for c in cs if c.state not in ("failed", "done"))
    if phase == 1:
        result["established"] = sum(1 for c in cs if c.state == "open")
    print(json.dumps(result, sort_keys=True))
    sys.stdout.flush()
    for c in cs:
        if c.state != "failed":
            c.s.close()


def trickle(port, target, n, k):
    n, k = int(n), int(k)
    head = b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target.encode(), target.encode())
    t0 = time.monotonic()
    ts = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", int(port)))
        s.setblocking(False)
        ts.append({"s": s, "sent": 0, "got": b"", "cut": None})
    ordinary = 0
    before_cut = None
    next_send = t0
    while time.monotonic() - t0 < 60 and any(t["cut"] is None for t in ts):
        now = time.monotonic()
        if now >= next_send:
            next_send = now + 0.2
            for t in ts:
                if t["cut"] is None and t["sent"] < len(head):
                    try:
                        t["s"].send(head[t["sent"]:t["sent"] + 1])
                        t["sent"] += 1
                    except BlockingIOError:
                        pass
                    except OSError:
                        t["cut"] = now - t0
        for t in ts:
            if t["cut"] is not None:
                continue
            try:
                d = t["s"].recv(4096)
                if d == b"":
                    t["cut"] = now - t0
                t["got"] += d
            except BlockingIOError:
                pass
            except OSError:
                t["cut"] = now - t0
        if ordinary < k:
            # one ordinary tunnel, start to echo, while the tricklers hang on
            try:
                s = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
                s.sendall(head)
                got = b""
                while b"\r\n\r\n" not in got:
                    d = s.recv(4096)
                    if not d:
                        break
                    got += d
                if got.startswith(b"HTTP/1.1 200"):
                    s.sendall(b"ordinary\n")
                    rest = got.split(b"\r\n\r\n", 1)[1]
                    while not rest.endswith(b"\n"):
                        d = s.recv(4096)
                        if not d:
                            break
                        rest += d
                    if rest == b"echo:ordinary\n":
                        ordinary += 1
                s.close()
            except OSError:
                pass
            if before_cut is None and any(t["cut"] is not None for t in ts):
                before_cut = ordinary - 1
        elif before_cut is None and any(t["cut"] is not None for t in ts):
            before_cut = ordinary
        time.sleep(0.01)
    if before_cut is None:
        before_cut = ordinary
    print(json.dumps({
        "answers": sorted(set(t["got"].split(b"\r\n")[0].decode("latin-1") for t in ts)),
        "bytes_sent": sorted(set(t["sent"] for t in ts)),
        "cut_after_s": [round(t["cut"], 1) if t["cut"] is not None else None for t in ts],
        "ordinary": ordinary, "ordinary_before_first_cut": before_cut}, sort_keys=True))


def status(path, n):
    n = int(n)
    raise_nofile(n + 64)
    sel = selectors.DefaultSelector()
    socks = {}
    res = {"connected": 0, "refused": 0, "got_status": 0, "closed": 0, "lines": {}}
    for i in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # a full backlog answers EAGAIN at once: a client tries again (5 s at most)
        t_end = time.monotonic() + 5
        while True:
            try:
                s.connect(path)
                break
            except BlockingIOError:
                if time.monotonic() > t_end:
                    break
                time.sleep(0.01)
            except OSError:
                break
        try:
            s.getpeername()
        except OSError:
            res["refused"] += 1
            s.close()
            continue
        s.setblocking(False)
        res["connected"] += 1
        socks[s] = b""
        sel.register(s, selectors.EVENT_READ)
    end = time.monotonic() + 60
    pending = set(socks)
    while pending and time.monotonic() < end:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            try:
                d = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                d = b""
            if d == b"":
                res["closed"] += 1
                pending.discard(s)
                sel.unregister(s)
                continue
            socks[s] += d
            if b"\n" in socks[s]:
                line = socks[s].split(b"\n")[0].decode("latin-1")
                res["lines"][line] = res["lines"].get(line, 0) + 1
                res["got_status"] += 1
                pending.discard(s)
                sel.unregister(s)
    print(json.dumps(res, sort_keys=True))
    sys.stdout.flush()
    # hold them while the caller looks (until stdin closes)
    sys.stdin.read()
    for s in socks:
        s.close()


NOTE = re.compile(rb"\[enclaver-supervisor: (\d+) bytes of output dropped[^\]]*\]")
NOTE_LINE = re.compile(rb"\[enclaver-supervisor: \d+ bytes of output dropped[^\]]*\]\n")
SEQ = re.compile(rb"^spew (\d+) ")


def slowlog(path, rate, fastfile, outfile):
    """Read the log stream at RATE bytes/s until FASTFILE exists, then as fast as
    possible until EOF; write JSON to OUTFILE (temp name, then rename)."""
    rate = int(rate)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(path)
    with open(outfile + ".connected", "w"):
        pass
    data = bytearray()
    t0 = time.monotonic()
    slow_bytes = 0
    eof = False
    s.settimeout(0.5)
    while not eof:
        fast = os.path.exists(fastfile)
        if not fast:
            # at most RATE bytes per second: 1/20 of it every 50 ms
            time.sleep(0.05)
            want = max(1, rate // 20)
        else:
            want = 1 << 20
        try:
            d = s.recv(want)
        except socket.timeout:
            if time.monotonic() - t0 > 300:
                break
            continue
        if not d:
            eof = True
            break
        data += d
        if not fast:
            slow_bytes += len(d)
    s.close()
    notes = [int(m.group(1)) for m in NOTE.finditer(data)]
    note_text = sum(len(m.group(0)) for m in NOTE_LINE.finditer(data))
    # the app's lines carry sequence numbers: a gap must follow a note
    last = None
    gaps = unexplained = 0
    noted = False
    for line in bytes(data).split(b"\n"):
        if NOTE.search(line):
            noted = True
            continue
        m = SEQ.match(line)
        if not m:
            continue
        v = int(m.group(1))
        if last is not None and v != last + 1:
            gaps += 1
            if not noted:
                unexplained += 1
        noted = False
        last = v
    res = {"bytes": len(data), "slow_bytes": slow_bytes, "eof": eof, "notes": len(notes),
           "noted_bytes": sum(notes), "note_text_bytes": note_text, "gaps": gaps,
           "unexplained_gaps": unexplained, "last_seq": last}
    with open(outfile + ".tmp", "w") as f:
        f.write(json.dumps(res, sort_keys=True) + "\n")
    os.rename(outfile + ".tmp", outfile)


def taillog(path, secs):
    """Connect to the log stream, read for SECS s, print how many bytes came."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.settimeout(0.1)
    n = 0
    end = time.monotonic() + float(secs)
    while time.monotonic() < end:
        try:
            d = s.recv(1 << 20)
        except socket.timeout:
            continue
        if not d:
            break
        n += len(d)
    print(json.dumps({"bytes": n}))


def spew(secs, gofile, donefile, releasefile):
    """The app: waits for GOFILE, writes numbered lines as fast as it can for SECS s,
    then writes DONEFILE (JSON: lines, bytes, the longest single write in s) and waits
    for RELEASEFILE before it exits 0."""
    secs = float(secs)
    while not os.path.exists(gofile):
        time.sleep(0.02)
    pad = b"x" * 100
    t0 = time.monotonic()
    end = t0 + secs
    i = 0
    nbytes = 0
    longest = 0.0
    out = sys.stdout.buffer
    while time.monotonic() < end:
        chunk = b"".join(b"spew %d %s\n" % (j, pad) for j in range(i, i + 256))
        t = time.monotonic()
        out.write(chunk)
        out.flush()
        longest = max(longest, time.monotonic() - t)
        i += 256
        nbytes += len(chunk)
    took = time.monotonic() - t0
    with open(donefile + ".tmp", "w") as f:
        f.write(json.dumps({"lines": i, "bytes": nbytes, "longest_write": round(longest, 3),
                            "seconds": round(took, 3)}, sort_keys=True) + "\n")
    os.rename(donefile + ".tmp", donefile)
    while not os.path.exists(releasefile):
        time.sleep(0.05)


def hold(addr, n, target, readyfile, secs):
    """Open N connections (CONNECT TARGET first unless TARGET is "-"), check one line
    through each, write READYFILE, then wait (at most SECS s) until the far end closes
    them; print JSON: how many were echoed, how many were closed (EOF or reset) and the
    seconds from READYFILE to the last close."""
    n = int(n)
    raise_nofile(n + 64)
    socks = []
    echoed = 0
    head = b""
    if target != "-":
        head = b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target.encode(), target.encode())
    for i in range(n):
        s, a = sock_for(addr)
        s.settimeout(30)
        try:
            s.connect(a)
            got = b""
            if head:
                s.sendall(head)
                while b"\r\n\r\n" not in got:
                    d = s.recv(4096)
                    if not d:
                        break
                    got += d
                if not got.startswith(b"HTTP/1.1 200"):
                    s.close()
                    continue
                got = got.split(b"\r\n\r\n", 1)[1]
            s.sendall(b"hold %d\n" % i)
            while not got.endswith(b"\n"):
                d = s.recv(4096)
                if not d:
                    break
                got += d
            if got == b"echo:hold %d\n" % i:
                echoed += 1
            socks.append(s)
        except OSError:
            s.close()
    with open(readyfile, "w"):
        pass
    t0 = time.monotonic()
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    closed = 0
    last = 0.0
    pending = set(socks)
    while pending and time.monotonic() - t0 < float(secs):
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                d = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                d = b""
            if d == b"":
                closed += 1
                last = time.monotonic() - t0
                pending.discard(s)
                sel.unregister(s)
    print(json.dumps({"held": len(socks), "echoed": echoed, "closed": closed,
                      "last_close_s": round(last, 2)}, sort_keys=True))
    for s in socks:
        s.close()


def vmhwm(pid):
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                print(line.split()[1])
                return
    sys.exit(1)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"echo": echo, "conns": conns, "trickle": trickle, "status": status,
     "slowlog": slowlog, "spew": spew, "taillog": taillog, "hold": hold, "vmhwm": vmhwm}[cmd](*args)


if __name__ == "__main__":
    main()

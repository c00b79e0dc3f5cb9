#!/usr/bin/env python3
"""Independent checks of an EIF built by enclaver (does not use enclaver's code).

  eifcheck.py sections EIF OUTDIR     write kernel, cmdline, ramdisk-N files; print the types
  eifcheck.py pcrs EIF                print PCR0 PCR1 PCR2 computed from the sections
  eifcheck.py bootstrap INIT NSM OUT  write nitro-cli's bootstrap cpio (linuxkit rules, EIF.md 5.2)
  eifcheck.py pcr1 KERNEL CMDLINE BOOTSTRAP   print PCR1 for these inputs
"""
import hashlib, os, struct, sys

def sections(path):
    d = open(path, "rb").read()
    magic, ver, flags, mem, cpus, res, n = struct.unpack(">4sHHQQHH", d[:28])
    assert magic == b".eif", "bad magic"
    offs = struct.unpack(">32Q", d[28:284])
    out = []
    for i in range(n):
        t, f, sz = struct.unpack(">HHQ", d[offs[i]:offs[i] + 12])
        out.append((t, d[offs[i] + 12:offs[i] + 12 + sz]))
    return out

def extend(data):
    return hashlib.sha384(b"\0" * 48 + hashlib.sha384(data).digest()).hexdigest()

def newc(name, mode, size, ino, nlink=1, mtime=1492533000, maj=3, mnr=1):
    hdr = "070701" + "".join("%08x" % v for v in
                             (ino, mode, 0, 0, nlink, mtime, size, maj, mnr, 0, 0, len(name) + 1, 0))
    b = hdr.encode() + name.encode() + b"\0"
    return b + b"\0" * (-len(b) % 4)

def bootstrap(init, nsm):
    b = newc("dev", 0o40755, 0, 721, nlink=2)
    b += newc("init", 0o100755, len(init), 722) + init + b"\0" * (-len(init) % 4)
    b += newc("nsm.ko", 0o100755, len(nsm), 723) + nsm + b"\0" * (-len(nsm) % 4)
    b += newc("TRAILER!!!", 0, 0, 724, nlink=1, mtime=0, maj=0, mnr=0)
    return b + b"\0" * (-len(b) % 512)

cmd = sys.argv[1]
if cmd == "sections":
    os.makedirs(sys.argv[3], exist_ok=True)
    rd = 0
    for t, data in sections(sys.argv[2]):
        name = {1: "kernel", 2: "cmdline", 4: "signature", 5: "metadata"}.get(t)
        if t == 3:
            name = "ramdisk-%d" % rd
            rd += 1
        open(os.path.join(sys.argv[3], name), "wb").write(data)
        print(name)
elif cmd == "pcrs":
    s = sections(sys.argv[2])
    k = b"".join(d for t, d in s if t in (1, 2))
    rds = [d for t, d in s if t == 3]
    print(extend(k + b"".join(rds)), extend(k + rds[0]), extend(b"".join(rds[1:])))
elif cmd == "bootstrap":
    open(sys.argv[4], "wb").write(bootstrap(open(sys.argv[2], "rb").read(), open(sys.argv[3], "rb").read()))
elif cmd == "pcr1":
    print(extend(b"".join(open(p, "rb").read() for p in sys.argv[2:5])))

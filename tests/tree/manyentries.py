#!/usr/bin/env python3
"""manyentries.py LAYOUT N [NAMELEN]: an OCI layout (ref "many") whose one gzip layer holds
N empty regular files, 1000 to a directory (dNNNN/...), each name NAMELEN bytes long
(default 8), written with tarfile in streaming mode."""
import gzip, hashlib, io, json, os, sys, tarfile

root, n = sys.argv[1], int(sys.argv[2])
namelen = int(sys.argv[3]) if len(sys.argv) > 3 else 8
os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)


class Hashing(io.RawIOBase):
    def __init__(self, out):
        self.out, self.h, self.n = out, hashlib.sha256(), 0

    def writable(self):
        return True

    def write(self, b):
        self.h.update(b)
        self.n += len(b)
        return self.out.write(b) if self.out else len(b)


tmp = os.path.join(root, "layer.tmp")
with open(tmp, "wb") as f:
    blob = Hashing(f)
    gz = gzip.GzipFile(fileobj=blob, mode="wb", compresslevel=1, mtime=0)
    raw = Hashing(gz)
    # tarfile makes each header once per shape; the loop patches the name and checksum
    # into a copy (the same bytes tarfile would write, much faster than addfile)
    def template(name, kind):
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.mtime = kind, 0o755 if kind == tarfile.DIRTYPE else 0o644, 1700000000
        b = bytearray(ti.tobuf(format=tarfile.USTAR_FORMAT))
        b[148:156] = b" " * 8
        return b, sum(b) - sum(name.encode())

    def header(tb, tsum, name):
        nb = name.encode()
        b = bytearray(tb)
        b[0:100] = nb.ljust(100, b"\0")
        b[148:156] = b"%06o\0 " % (tsum + sum(nb))
        return bytes(b)

    fname = lambda i: "d%05d/%s" % (i // 1000, ("f%07d" % i).ljust(namelen, "x"))
    ftb, fsum = template(fname(0), tarfile.REGTYPE)
    dtb, dsum = template("d00000/", tarfile.DIRTYPE)
    out = []
    for i in range(n):
        if i % 1000 == 0:
            out.append(header(dtb, dsum, "d%05d/" % (i // 1000)))
        out.append(header(ftb, fsum, fname(i)))
        if len(out) >= 4096:
            raw.write(b"".join(out))
            out = []
    out.append(b"\0" * 1024)
    raw.write(b"".join(out))
    gz.close()
ld, diff = "sha256:" + blob.h.hexdigest(), "sha256:" + raw.h.hexdigest()
os.rename(tmp, os.path.join(root, "blobs", "sha256", ld[7:]))


def put(b):
    d = "sha256:" + hashlib.sha256(b).hexdigest()
    with open(os.path.join(root, "blobs", "sha256", d[7:]), "wb") as f:
        f.write(b)
    return d, len(b)


arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
cfg = json.dumps({"architecture": arch, "os": "linux", "config": {"Cmd": ["/bin/true"]},
                  "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
cd, cn = put(cfg)
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
                  "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld,
                              "size": blob.n}]}).encode()
md, mn = put(man)
with open(os.path.join(root, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
               "digest": md, "size": mn, "annotations": {"org.opencontainers.image.ref.name": "many"}}]}, f)
with open(os.path.join(root, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion": "1.0.0"}')

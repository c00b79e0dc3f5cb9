#!/usr/bin/env python3
"""Make a small, deterministic OCI image layout from directories (no Docker).

  mkoci.py OUT [--layer DIR]... [--gzip|--zstd|--plain] [--entrypoint JSON] [--cmd JSON]
           [--env K=V]... [--workdir DIR] [--user U] [--arch amd64] [--tag latest]
           [--created RFC3339] [--whiteout PATH]...

Each --layer DIR becomes one layer: every file below DIR, sorted, uid/gid 0 unless the
file is named in --owner PATH=UID:GID, mtimes kept from the files.  --whiteout PATH adds
a whiteout entry (.wh.NAME) for PATH to the last layer."""
import argparse, gzip, hashlib, io, json, os, subprocess, tarfile

def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()

def layer_tar(root, whiteouts, owners):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        paths = []
        for dp, dns, fns in os.walk(root):
            dns.sort()
            for n in sorted(dns + fns):
                paths.append(os.path.join(dp, n))
        for p in sorted(paths, key=lambda p: os.path.relpath(p, root).encode()):
            rel = os.path.relpath(p, root)
            ti = t.gettarinfo(p, arcname=rel)
            ti.uid, ti.gid = owners.get(rel, (0, 0))
            ti.uname = ti.gname = ""
            if ti.isreg():
                with open(p, "rb") as f:
                    t.addfile(ti, f)
            else:
                t.addfile(ti)
        for w in whiteouts:
            d, n = os.path.split(w.strip("/"))
            ti = tarfile.TarInfo(os.path.join(d, ".wh." + n))
            ti.mtime = 0
            t.addfile(ti, io.BytesIO(b""))
    return buf.getvalue()

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--layer", action="append", default=[])
    ap.add_argument("--compression", default="gzip", choices=["gzip", "zstd", "plain"])
    ap.add_argument("--entrypoint")
    ap.add_argument("--cmd")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--workdir")
    ap.add_argument("--user")
    ap.add_argument("--arch", default="amd64")
    ap.add_argument("--tag", default="latest")
    ap.add_argument("--created", default="2024-01-01T00:00:00Z")
    ap.add_argument("--whiteout", action="append", default=[])
    ap.add_argument("--owner", action="append", default=[])
    a = ap.parse_args()
    owners = {}
    for o in a.owner:
        p, ug = o.split("=")
        u, g = ug.split(":")
        owners[p] = (int(u), int(g))
    os.makedirs(os.path.join(a.out, "blobs", "sha256"), exist_ok=True)
    def put(b):
        d = sha(b)
        with open(os.path.join(a.out, "blobs", "sha256", d[7:]), "wb") as f:
            f.write(b)
        return d
    layers, diff_ids = [], []
    for i, d in enumerate(a.layer):
        raw = layer_tar(d, a.whiteout if i == len(a.layer) - 1 else [], owners)
        diff_ids.append(sha(raw))
        if a.compression == "gzip":
            blob, mt = gzip.compress(raw, 6, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"
        elif a.compression == "zstd":
            blob = subprocess.run(["zstd", "-q", "-c"], input=raw, stdout=subprocess.PIPE, check=True).stdout
            mt = "application/vnd.oci.image.layer.v1.tar+zstd"
        else:
            blob, mt = raw, "application/vnd.oci.image.layer.v1.tar"
        layers.append({"mediaType": mt, "digest": put(blob), "size": len(blob)})
    cfg = {"architecture": a.arch, "os": "linux", "created": a.created, "config": {},
           "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    c = cfg["config"]
    if a.entrypoint: c["Entrypoint"] = json.loads(a.entrypoint)
    if a.cmd: c["Cmd"] = json.loads(a.cmd)
    if a.env: c["Env"] = a.env
    if a.workdir: c["WorkingDir"] = a.workdir
    if a.user: c["User"] = a.user
    cb = json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(cb), "size": len(cb)},
           "layers": layers}
    mb = json.dumps(man, sort_keys=True, separators=(",", ":")).encode()
    idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
           "manifests": [{"mediaType": man["mediaType"], "digest": put(mb), "size": len(mb),
                          "annotations": {"org.opencontainers.image.ref.name": a.tag}}]}
    with open(os.path.join(a.out, "index.json"), "w") as f:
        json.dump(idx, f, sort_keys=True, separators=(",", ":"))
    with open(os.path.join(a.out, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    print(sha(mb))

if __name__ == "__main__":
    main()

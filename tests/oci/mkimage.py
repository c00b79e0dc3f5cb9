#!/usr/bin/env python3
"""Build the OCI test images for tests/oci (no Docker needed).

  mkimage.py layout DIR ARCH          OCI layout with refs: single, multi, docker,
                                      otherarch, schema1, artifact, unknowntype, both, badcase
  mkimage.py oci-archive DIR OUT      tar of the layout (member names prefixed with ./)
  mkimage.py docker-legacy DIR REF OUT   docker save <= 24 layout (uncompressed layers only)
  mkimage.py docker-v25 DIR REF OUT      docker save >= 25 layout (OCI layout + manifest.json)
  mkimage.py push DIR REF URL REPO TAG   push an image (and its children) to a registry

Layers are real tars made with tarfile, compressed with gzip (mtime 0) or the zstd
command; every digest is a sha256 of the bytes written."""
import gzip, hashlib, io, json, os, subprocess, sys, tarfile, urllib.parse
import http.client

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
D_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
D_CONFIG = "application/vnd.docker.container.image.v1+json"
D_LAYER = "application/vnd.docker.image.rootfs.diff.tar"


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def make_tar(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files:
            if data is None:
                ti = tarfile.TarInfo(name)
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                ti.mtime = 1700000000
                t.addfile(ti)
                continue
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o755 if name.startswith("bin/") else 0o644
            ti.mtime = 1700000000
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def compress(raw, how):
    if how == "gzip":
        return gzip.compress(raw, compresslevel=6, mtime=0)
    if how == "zstd":
        return subprocess.run(["zstd", "-q", "-c", "-3"], input=raw, stdout=subprocess.PIPE, check=True).stdout
    return raw


class Layout:
    def __init__(self, root):
        self.root = root
        os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
        self.entries = []

    def blob(self, data):
        if isinstance(data, str):
            data = data.encode()
        d = sha(data)
        with open(os.path.join(self.root, "blobs", "sha256", d[7:]), "wb") as f:
            f.write(data)
        return d, len(data)

    def doc(self, obj):
        data = json.dumps(obj, indent=2, sort_keys=False).encode()
        return self.blob(data)

    def image(self, arch, layers, docker=False, variant=None, cmd=None, extra_config=None, os_="linux"):
        """layers: list of (files, compression).  Returns the manifest descriptor."""
        ldescs, diff_ids = [], []
        for files, how in layers:
            raw = make_tar(files)
            diff_ids.append(sha(raw))
            blob = compress(raw, how)
            d, n = self.blob(blob)
            if docker:
                mt = D_LAYER + {"gzip": ".gzip", "zstd": ".zstd", "none": ""}[how]
            else:
                mt = OCI_LAYER + {"gzip": "+gzip", "zstd": "+zstd", "none": ""}[how]
            ldescs.append({"mediaType": mt, "digest": d, "size": n})
        config = {
            "architecture": arch,
            "os": os_,
            "created": "2024-01-02T03:04:05Z",
            "config": {
                "Entrypoint": ["/bin/app"],
                "Cmd": cmd or ["--serve", "a b"],
                "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "GREETING=hello world"],
                "WorkingDir": "/app",
                "User": "1000:1000",
                "ExposedPorts": {"8080/tcp": {}, "9090/udp": {}},
                "Labels": {"org.example.name": "test image"},
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": "mkimage.py"}],
        }
        if variant:
            config["variant"] = variant
        if extra_config:
            extra_config(config)
        cd, cn = self.doc(config)
        man = {
            "schemaVersion": 2,
            "mediaType": D_MANIFEST if docker else OCI_MANIFEST,
            "config": {"mediaType": D_CONFIG if docker else OCI_CONFIG, "digest": cd, "size": cn},
            "layers": ldescs,
        }
        md, mn = self.doc(man)
        desc = {"mediaType": man["mediaType"], "digest": md, "size": mn}
        plat = {"architecture": arch, "os": os_}
        if variant:
            plat["variant"] = variant
        return desc, plat

    def tag(self, desc, name):
        e = dict(desc)
        e["annotations"] = {"org.opencontainers.image.ref.name": name}
        self.entries.append(e)

    def finish(self):
        with open(os.path.join(self.root, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        with open(os.path.join(self.root, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.entries}, f, indent=2)


def files_base(tag):
    return [("bin", None), ("bin/app", b"#!/bin/sh\necho " + tag.encode() + b"\n"), ("etc", None),
            ("etc/hello", b"hi from " + tag.encode() + b"\n")]


def build_layout(root, arch):
    L = Layout(root)
    other = "arm64" if arch == "amd64" else "amd64"
    # single: three layers, three compressions
    d, _ = L.image(arch, [(files_base("single"), "gzip"),
                          ([("app", None), ("app/data.txt", b"zstd layer\n" * 100)], "zstd"),
                          ([("app/more.txt", b"plain layer\n")], "none")])
    L.tag(d, "single")
    # multi: index with amd64 (gzip), arm64/v8 (zstd) and an attestation manifest
    amd, pamd = L.image("amd64", [(files_base("multi-amd64"), "gzip")])
    arm, parm = L.image("arm64", [(files_base("multi-arm64"), "zstd")], variant="v8")
    att_cfg, att_cn = L.doc({"architecture": "unknown", "os": "unknown", "rootfs": {"type": "layers", "diff_ids": []}})
    intoto, intoto_n = L.blob(json.dumps({"_type": "https://in-toto.io/Statement/v0.1"}))
    att_man = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
               "config": {"mediaType": OCI_CONFIG, "digest": att_cfg, "size": att_cn},
               "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": intoto, "size": intoto_n}]}
    att_d, att_n = L.doc(att_man)
    att_desc = {"mediaType": OCI_MANIFEST, "digest": att_d, "size": att_n,
                "platform": {"architecture": "unknown", "os": "unknown"},
                "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                                "vnd.docker.reference.digest": amd["digest"]}}
    # attestation first, so selection must skip it
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX,
             "manifests": [att_desc, dict(amd, platform=pamd), dict(arm, platform=parm)]}
    xd, xn = L.doc(index)
    L.tag({"mediaType": OCI_INDEX, "digest": xd, "size": xn}, "multi")
    # docker: Docker media types, uncompressed layers (what docker save holds)
    d, _ = L.image(arch, [(files_base("docker"), "none"), ([("app", None), ("app/x", b"x\n")], "none")], docker=True)
    L.tag(d, "docker")
    # otherarch: a single-platform image for the other architecture
    d, _ = L.image(other, [(files_base("other"), "gzip")])
    L.tag(d, "otherarch")
    # schema1: refused
    s1, s1n = L.doc({"schemaVersion": 1, "name": "x/y", "tag": "latest", "architecture": arch, "fsLayers": [],
                     "history": []})
    L.tag({"mediaType": "application/vnd.docker.distribution.manifest.v1+prettyjws", "digest": s1, "size": s1n},
          "schema1")
    # artifact: config media type of an artifact
    ac, acn = L.blob("{}")
    art = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": "application/vnd.example.thing.v1+json", "digest": ac, "size": acn},
           "layers": []}
    ad, an = L.doc(art)
    L.tag({"mediaType": OCI_MANIFEST, "digest": ad, "size": an}, "artifact")
    # unknowntype: an entry whose media type we do not know
    ud, un = L.doc({"schemaVersion": 2, "mediaType": "application/vnd.example.unknown.v1+json"})
    L.tag({"mediaType": "application/vnd.example.unknown.v1+json", "digest": ud, "size": un}, "unknowntype")
    # both: a document with manifests and layers (CVE-2021-41190 shape)
    bd, bn = L.doc({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "manifests": [],
                    "config": {"mediaType": OCI_CONFIG, "digest": ac, "size": acn}, "layers": []})
    L.tag({"mediaType": OCI_MANIFEST, "digest": bd, "size": bn}, "both")
    # badcase: config with Cmd and cmd
    d, _ = L.image(arch, [(files_base("badcase"), "gzip")],
                   extra_config=lambda c: c["config"].__setitem__("cmd", ["/bin/evil"]))
    L.tag(d, "badcase")
    L.finish()


def load_layout(root):
    with open(os.path.join(root, "index.json")) as f:
        return json.load(f)


def read_blob(root, digest):
    with open(os.path.join(root, "blobs", "sha256", digest[7:]), "rb") as f:
        return f.read()


def find_ref(root, ref):
    for e in load_layout(root)["manifests"]:
        if e.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref:
            return e
    raise SystemExit("no ref " + ref)


def tar_add(t, name, data, mtime=0, link=None):
    ti = tarfile.TarInfo(name)
    ti.mtime = mtime
    if link is not None:
        ti.type = tarfile.SYMTYPE
        ti.linkname = link
        t.addfile(ti)
        return
    ti.size = len(data)
    ti.mode = 0o644
    t.addfile(ti, io.BytesIO(data))


def oci_archive(root, out):
    with tarfile.open(out + ".tmp", "w", format=tarfile.PAX_FORMAT) as t:
        names = ["oci-layout", "index.json"] + ["blobs/sha256/" + n for n in
                                                sorted(os.listdir(os.path.join(root, "blobs", "sha256")))]
        # index.json last: member order must not matter
        names = names[2:] + names[:2]
        for n in names:
            with open(os.path.join(root, n), "rb") as f:
                tar_add(t, "./" + n, f.read())
    os.rename(out + ".tmp", out)


def docker_legacy(root, ref, out):
    desc = find_ref(root, ref)
    man = json.loads(read_blob(root, desc["digest"]))
    cfg = read_blob(root, man["config"]["digest"])
    with tarfile.open(out + ".tmp", "w", format=tarfile.GNU_FORMAT) as t:
        layer_paths = []
        for i, l in enumerate(man["layers"]):
            data = read_blob(root, l["digest"])
            lid = hashlib.sha256(("layer%d" % i).encode() + data).hexdigest()
            if i == 0:
                # shared layer: the real bytes live in another directory, reached by a symlink
                sid = hashlib.sha256(b"shared" + data).hexdigest()
                tar_add(t, sid + "/layer.tar", data)
                tar_add(t, lid + "/layer.tar", b"", link="../" + sid + "/layer.tar")
            else:
                tar_add(t, lid + "/layer.tar", data)
            tar_add(t, lid + "/VERSION", b"1.0")
            tar_add(t, lid + "/json", json.dumps({"id": lid}).encode())
            layer_paths.append(lid + "/layer.tar")
        cfg_name = man["config"]["digest"][7:] + ".json"
        tar_add(t, cfg_name, cfg)
        mj = [{"Config": cfg_name, "RepoTags": ["example.com/test/img:" + ref], "Layers": layer_paths}]
        tar_add(t, "manifest.json", json.dumps(mj).encode())
        tar_add(t, "repositories", json.dumps({"example.com/test/img": {ref: layer_paths[-1].split("/")[0]}}).encode())
    os.rename(out + ".tmp", out)


def docker_v25(root, ref, out):
    desc = find_ref(root, ref)
    man = json.loads(read_blob(root, desc["digest"]))
    digests = [desc["digest"], man["config"]["digest"]] + [l["digest"] for l in man["layers"]]
    with tarfile.open(out + ".tmp", "w", format=tarfile.PAX_FORMAT) as t:
        for d in digests:
            tar_add(t, "blobs/sha256/" + d[7:], read_blob(root, d))
        tar_add(t, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        entry = dict(desc)
        entry["annotations"] = {"io.containerd.image.name": "example.com/test/img:" + ref,
                                "org.opencontainers.image.ref.name": ref}
        tar_add(t, "index.json", json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                             "manifests": [entry]}).encode())
        mj = [{"Config": "blobs/sha256/" + man["config"]["digest"][7:],
               "RepoTags": ["example.com/test/img:" + ref],
               "Layers": ["blobs/sha256/" + l["digest"][7:] for l in man["layers"]]}]
        tar_add(t, "manifest.json", json.dumps(mj).encode())
        tar_add(t, "repositories", b"{}")
    os.rename(out + ".tmp", out)


class Registry:
    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port

    def req(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection(self.host, self.port, timeout=30)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data

    def push_blob(self, repo, data):
        d = sha(data)
        st, _, _ = self.req("HEAD", "/v2/%s/blobs/%s" % (repo, d))
        if st == 200:
            return
        st, h, body = self.req("POST", "/v2/%s/blobs/uploads/" % repo)
        if st != 202:
            raise SystemExit("upload start: %d %s" % (st, body))
        loc = urllib.parse.urlparse(h["location"])
        path = loc.path + "?" + (loc.query + "&" if loc.query else "") + "digest=" + urllib.parse.quote(d)
        st, _, body = self.req("PUT", path, body=data,
                               headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))})
        if st != 201:
            raise SystemExit("blob put: %d %s" % (st, body))

    def push_manifest(self, repo, ref, data, mt):
        st, _, body = self.req("PUT", "/v2/%s/manifests/%s" % (repo, ref), body=data, headers={"Content-Type": mt})
        if st != 201:
            raise SystemExit("manifest put %s: %d %s" % (ref, st, body))


def push(root, ref, url, repo, tag):
    reg = Registry(url)
    desc = find_ref(root, ref)

    def push_desc(d, as_ref):
        data = read_blob(root, d["digest"])
        doc = json.loads(data)
        if "manifests" in doc:
            for m in doc["manifests"]:
                push_desc(m, m["digest"])
        else:
            reg.push_blob(repo, read_blob(root, doc["config"]["digest"]))
            for l in doc["layers"]:
                reg.push_blob(repo, read_blob(root, l["digest"]))
        reg.push_manifest(repo, as_ref, data, d["mediaType"])

    push_desc(desc, tag)


def main(argv):
    cmd = argv[1]
    if cmd == "layout":
        build_layout(argv[2], argv[3])
    elif cmd == "oci-archive":
        oci_archive(argv[2], argv[3])
    elif cmd == "docker-legacy":
        docker_legacy(argv[2], argv[3], argv[4])
    elif cmd == "docker-v25":
        docker_v25(argv[2], argv[3], argv[4])
    elif cmd == "push":
        push(argv[2], argv[3], argv[4], argv[5], argv[6])
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)

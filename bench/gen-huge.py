#!/usr/bin/env python3
"""Write the `huge` benchmark image as an OCI layout, without umoci (whose gzip would
take many minutes for 10 GiB): one layer of GIB x 4 files of 256 MiB of AES-256-CTR
keystream (incompressible, reproducible: `openssl enc`) under data/, plus 5,000 files
of 1-4 KiB under small/, all mtime 1700000000, owner 0:0.  The tar is streamed
through igzip -1 (ISA-L) into the blob; its SHA-256 (the DiffID) and the blob's are
computed on the way.

    bench/gen-huge.py LAYOUT_DIR GIB
"""
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

MTIME = 1700000000
CHUNK = 256 << 20


class Tee(io.RawIOBase):
    """A write-only stream: SHA-256 of everything written, passed on to a pipe."""

    def __init__(self, out):
        self.out, self.h, self.n = out, hashlib.sha256(), 0

    def writable(self):
        return True

    def write(self, b):
        self.h.update(b)
        self.n += len(b)
        self.out.write(b)
        return len(b)


def keystream(seed, size):
    p = subprocess.Popen(['openssl', 'enc', '-aes-256-ctr', '-nosalt', '-pbkdf2', '-pass', 'pass:' + seed,
                          '-in', '/dev/zero'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return p


def add(tf, name, size, fileobj=None, mode=0o644, kind=tarfile.REGTYPE):
    ti = tarfile.TarInfo(name)
    ti.size, ti.mtime, ti.mode, ti.type = size, MTIME, mode, kind
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ''
    tf.addfile(ti, fileobj)


def blob_path(layout, digest):
    return os.path.join(layout, 'blobs', 'sha256', digest)


def put_json(layout, obj, media_type):
    b = json.dumps(obj, separators=(',', ':'), sort_keys=True).encode()
    d = hashlib.sha256(b).hexdigest()
    with open(blob_path(layout, d), 'wb') as f:
        f.write(b)
    return {'mediaType': media_type, 'digest': 'sha256:' + d, 'size': len(b)}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    layout, gib = sys.argv[1], int(sys.argv[2])
    os.makedirs(os.path.join(layout, 'blobs', 'sha256'), exist_ok=True)
    with open(os.path.join(layout, 'oci-layout'), 'w') as f:
        json.dump({'imageLayoutVersion': '1.0.0'}, f)
    tmp = os.path.join(layout, 'blobs', 'layer.tmp')
    with open(tmp, 'wb') as out:
        gz = subprocess.Popen(['igzip', '-1', '-c'], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        bh, bn = hashlib.sha256(), 0
        import threading

        def drain():
            nonlocal bn
            while True:
                b = gz.stdout.read(1 << 20)
                if not b:
                    break
                bh.update(b)
                bn += len(b)
                out.write(b)
        t = threading.Thread(target=drain)
        t.start()
        tee = Tee(gz.stdin)
        with tarfile.open(fileobj=tee, mode='w|', format=tarfile.PAX_FORMAT) as tf:
            add(tf, 'data', 0, mode=0o755, kind=tarfile.DIRTYPE)
            for i in range(gib * 4):
                p = keystream('enclaver-bench-huge-%d' % i, CHUNK)
                add(tf, 'data/blob%03d.bin' % i, CHUNK, p.stdout)
                p.kill()
                p.wait()
            add(tf, 'small', 0, mode=0o755, kind=tarfile.DIRTYPE)
            for i in range(5000):
                body = (('small file %d\n' % i) * 400)[:1024 + (i * 37) % 3072].encode()
                add(tf, 'small/f%04d.txt' % i, len(body), io.BytesIO(body))
        gz.stdin.close()
        t.join()
        if gz.wait() != 0:
            sys.exit('igzip failed')
    diff_id = 'sha256:' + tee.h.hexdigest()
    digest = bh.hexdigest()
    os.rename(tmp, blob_path(layout, digest))
    layer = {'mediaType': 'application/vnd.oci.image.layer.v1.tar+gzip', 'digest': 'sha256:' + digest, 'size': bn}
    config = put_json(layout, {
        'architecture': 'amd64', 'os': 'linux', 'created': '2023-11-14T22:13:20Z',
        'config': {'Cmd': ['/bin/sh']},
        'rootfs': {'type': 'layers', 'diff_ids': [diff_id]},
        'history': [{'created': '2023-11-14T22:13:20Z', 'created_by': '%d x 256 MiB incompressible files + 5000 small' % (gib * 4)}],
    }, 'application/vnd.oci.image.config.v1+json')
    manifest = put_json(layout, {'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json',
                                 'config': config, 'layers': [layer]},
                        'application/vnd.oci.image.manifest.v1+json')
    manifest['annotations'] = {'org.opencontainers.image.ref.name': 'latest'}
    with open(os.path.join(layout, 'index.json'), 'w') as f:
        json.dump({'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.index.v1+json',
                   'manifests': [manifest]}, f)
    print('huge: %d bytes of tar, %d bytes of gzip, diff_id %s' % (tee.n, bn, diff_id))


if __name__ == '__main__':
    main()

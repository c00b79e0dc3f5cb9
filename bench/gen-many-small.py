#!/usr/bin/env python3
"""Write the two layer trees of the 'many-small' benchmark image.

    gen-many-small.py LAYER1_DIR LAYER2_DIR

Layer 1: 60,000 files of 1,024..4,096 bytes under usr/lib/node_modules, 200
packages x 30 leaf directories x 10 files; a file's path has 10 to 18
components.  Two thirds of the content is repetitive source-like text, one
third base64 of pseudo-random bytes, so the layer compresses like real code.
Layer 2: 5,000 whiteouts (.wh.NAME) of layer-1 files, plus an opaque
directory (.wh..wh..opq) that hides the last package and adds 20 files.
Everything is deterministic (fixed seed, fixed mtimes).
"""
import base64, os, random, sys

FILES, PKGS, LEAVES, PER_LEAF = 60000, 200, 30, 10
WHITEOUTS, OPAQUE_PKG, EPOCH = 5000, PKGS - 1, 1700000000

def pkg_dir(p):
    return "usr/lib/node_modules/pkg%03d" % p

def file_path(i):
    p, rest = divmod(i, LEAVES * PER_LEAF)
    leaf, k = divmod(rest, PER_LEAF)
    depth = 2 + (p * 7 + leaf) % 9              # 2..10 inner directories
    parts = [pkg_dir(p), "src", "m%d" % (leaf % 4)]
    parts += ["d%d" % n for n in range(1, depth + 1)]
    parts += ["leaf%02d" % leaf, "f%05d.%s" % (i, ("js", "json", "d.ts")[k % 3])]
    return "/".join(parts)                      # 8 + depth components

def body(rng, size, i):
    out, n = [], 0
    while n < size:
        if rng.random() < 1 / 3:
            line = base64.b64encode(rng.randbytes(54)).decode() + "\n"
        else:
            a, b = rng.randrange(1000), rng.randrange(97)
            line = "export const v%d = (x, y) => x * %d + y; // %d\n" % (a, b, i)
        out.append(line)
        n += len(line)
    return "".join(out)[:size].encode()

def stamp(root):
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            os.utime(os.path.join(dirpath, name), (EPOCH, EPOCH), follow_symlinks=False)
        os.utime(dirpath, (EPOCH, EPOCH))

def main():
    l1, l2 = sys.argv[1], sys.argv[2]
    rng = random.Random(20240601)
    paths = []
    for i in range(FILES):
        rel = file_path(i)
        full = os.path.join(l1, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(body(rng, rng.randint(1024, 4096), i))
        paths.append(rel)
    stamp(l1)

    opq = pkg_dir(OPAQUE_PKG) + "/"
    candidates = [p for p in paths if not p.startswith(opq)]
    for rel in random.Random(7).sample(candidates, WHITEOUTS):
        d, name = os.path.split(rel)
        os.makedirs(os.path.join(l2, d), exist_ok=True)
        open(os.path.join(l2, d, ".wh." + name), "wb").close()
    o = os.path.join(l2, pkg_dir(OPAQUE_PKG))
    os.makedirs(os.path.join(o, "lib"), exist_ok=True)
    open(os.path.join(o, ".wh..wh..opq"), "wb").close()
    for n in range(1, 21):
        with open(os.path.join(o, "lib", "new%02d.js" % n), "w") as f:
            f.write("export const replacement%02d = %d;\n" % (n, n))
    stamp(l2)

if __name__ == "__main__":
    main()

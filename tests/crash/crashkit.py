#!/usr/bin/env python3
"""Helpers of tests/crash/kill.sh, each an independent check of what enclaver left.

  crashkit.py kill SIGNAL MAXDELAY SEED OUT ERR -- CMD...
      run CMD (stdout to OUT, stderr to ERR) with SIGINT and SIGTERM at their
      defaults, send SIGNAL after a random delay in [0, MAXDELAY) seconds drawn
      from SEED, wait; print "RC DELAY" (RC as a shell gives it: 128+N when the
      process died of signal N).  A process that ended before the delay is not
      signalled.
  crashkit.py at-rename N SIGNAL OUT ERR -- CMD...
      run CMD under strace(1) with every rename held for a moment after it is done,
      and send SIGNAL right after the N-th (so a kill lands between two renames of
      the outputs' commit, the windows a random moment rarely hits); print "RC CALL"
      with the N-th rename call as strace shows it ("RC -" when CMD made fewer)
  crashkit.py count-renames CMD...   how many renames CMD makes (under strace)
  crashkit.py time CMD...     run CMD, print its wall time in seconds (exit 1 if it failed)
  crashkit.py rehash CACHE    re-hash every file of CACHE/blobs/sha256 against its
      name; print one line per bad file ("PATH: content is sha256:..." or "PATH: not a
      regular file" or "PATH: name is not a digest"); also every ref under CACHE/refs
      that is not one digest (and media type) line
  crashkit.py treehash PATH   one sha256 over a file or directory tree (names, types,
      modes, contents), or "absent"
"""
import hashlib
import os
import random
import re
import signal
import stat
import subprocess
import sys
import time

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def file_sha(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dfl_signals():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def cmd_kill(argv):
    sig = getattr(signal, "SIG" + argv[0])
    maxdelay = float(argv[1])
    delay = random.Random(argv[2]).uniform(0, maxdelay)
    out, err = argv[3], argv[4]
    assert argv[5] == "--"
    with open(out, "wb") as o, open(err, "wb") as e:
        p = subprocess.Popen(argv[6:], stdout=o, stderr=e, preexec_fn=dfl_signals)
        try:
            p.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            p.send_signal(sig)
        try:
            rc = p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            print("hung %.3f" % delay)
            return 0
    print("%d %.3f" % (128 - rc if rc < 0 else rc, delay))
    return 0


RENAMES = "rename,renameat,renameat2"


def strace_argv(log, argv):
    return ["strace", "-f", "-qq", "--seccomp-bpf", "-o", log, "-e", "trace=" + RENAMES, "-e",
            "inject=%s:delay_exit=60000" % RENAMES, "--"] + argv


def completed_renames(log):
    try:
        with open(log, "r", errors="replace") as f:
            return [l.rstrip("\n") for l in f if "rename" in l and "(DELAYED)" in l]
    except FileNotFoundError:
        return []


def cmd_at_rename(argv):
    n, sig, out, err = int(argv[0]), getattr(signal, "SIG" + argv[1]), argv[2], argv[3]
    assert argv[4] == "--"
    log = err + ".strace"
    pidfile = err + ".pid"
    for f in (log, pidfile):
        if os.path.exists(f):
            os.unlink(f)
    with open(out, "wb") as o, open(err, "wb") as e:
        # the traced process writes its pid, then becomes CMD
        p = subprocess.Popen(strace_argv(log, ["sh", "-c", 'echo $$ >"$0" && exec "$@"',
                                               pidfile] + argv[5:]),
                             stdout=o, stderr=e, preexec_fn=dfl_signals)
        call = "-"
        deadline = time.monotonic() + 120
        tracee = None
        while tracee is None and p.poll() is None and time.monotonic() < deadline:
            try:
                with open(pidfile) as f:
                    line = f.read()
                tracee = int(line) if line.endswith("\n") else None
            except (FileNotFoundError, ValueError):
                pass
            if tracee is None:
                time.sleep(0.001)
        while p.poll() is None and time.monotonic() < deadline:
            done = completed_renames(log)
            if len(done) >= n:
                call = done[n - 1].split(None, 1)[1]
                os.kill(tracee, sig)
                break
            time.sleep(0.01)
        rc = p.wait(timeout=120)
    print("%d %s" % (128 - rc if rc < 0 else rc, call))
    return 0


def cmd_count_renames(argv):
    r = subprocess.run(strace_argv("/dev/stderr", argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       errors="replace")
    print(sum(1 for l in r.stderr.splitlines() if "rename" in l and "(DELAYED)" in l))
    return r.returncode


def cmd_time(argv):
    t0 = time.monotonic()
    rc = subprocess.call(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print("%.3f" % (time.monotonic() - t0))
    return 1 if rc else 0


def cmd_rehash(argv):
    root = argv[0]
    blobs = os.path.join(root, "blobs", "sha256")
    if os.path.isdir(blobs):
        for n in sorted(os.listdir(blobs)):
            p = os.path.join(blobs, n)
            st = os.lstat(p)
            if not stat.S_ISREG(st.st_mode):
                print("%s: not a regular file" % p)
            elif not HEX64.match(n):
                print("%s: name is not a digest" % p)
            else:
                got = file_sha(p)
                if got != n:
                    print("%s: content is sha256:%s" % (p, got))
    refs = os.path.join(root, "refs")
    for d, _, files in os.walk(refs):
        for n in files:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                body = f.read()
            if ".tmp." in n:
                continue  # a temporary: kill.sh counts those
            if not re.match(rb"^sha256:[0-9a-f]{64}( [!-~]+)?\n?$", body):
                print("%s: not a digest: %r" % (p, body[:80]))
    return 0


def tree_hash(path):
    h = hashlib.sha256()

    def walk(p, rel):
        st = os.lstat(p)
        h.update(b"%s\0%o\0" % (rel.encode(), st.st_mode))
        if stat.S_ISDIR(st.st_mode):
            for n in sorted(os.listdir(p)):
                walk(os.path.join(p, n), rel + "/" + n)
        elif stat.S_ISLNK(st.st_mode):
            h.update(os.readlink(p).encode())
        else:
            h.update(file_sha(p).encode())

    walk(path, ".")
    return h.hexdigest()


def cmd_treehash(argv):
    print(tree_hash(argv[0]) if os.path.lexists(argv[0]) else "absent")
    return 0


def main(argv):
    cmds = {"kill": cmd_kill, "at-rename": cmd_at_rename, "count-renames": cmd_count_renames, "time": cmd_time, "rehash": cmd_rehash, "treehash": cmd_treehash}
    if len(argv) < 2 or argv[1] not in cmds:
        sys.stderr.write(__doc__)
        return 2
    return cmds[argv[1]](argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))

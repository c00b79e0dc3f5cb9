#!/usr/bin/env python3
"""Run a command on a pseudo-terminal, for the progress tests.

  ptyrun.py RAW SCREEN CMD ARGS...

The command's stdout and stderr are the terminal (80 columns); every byte it writes
goes to RAW.  SCREEN gets what a terminal would show at the end: the text with
carriage returns, newlines and the escape sequences the progress display uses (erase
line ESC[K, cursor up ESC[nA, erase below ESC[J) applied, one line per row.  Any other
escape sequence is an error (the display must not rely on more).  Exits with the
command's status."""
import fcntl, os, pty, re, struct, sys, termios

raw_path, screen_path, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
data = bytearray()
while True:
    try:
        chunk = os.read(fd, 65536)
    except OSError:  # EIO: the child closed the terminal
        break
    if not chunk:
        break
    data += chunk
_, status = os.waitpid(pid, 0)
with open(raw_path, "wb") as f:
    f.write(data)

# The terminal: rows of text, the cursor's row and column ("\n" only moves down: the
# line discipline already wrote "\r\n" for it, onlcr).
rows, r, c = [""], 0, 0
text = data.decode("utf-8", "replace")
i = 0
esc = re.compile(r"\x1b\[([0-9]*)([A-Za-z])")
while i < len(text):
    ch = text[i]
    if ch == "\x1b":
        m = esc.match(text, i)
        if not m:
            sys.exit("ptyrun: unknown escape at byte %d: %r" % (i, text[i:i + 8]))
        n, op = int(m.group(1) or "1"), m.group(2)
        if op == "K":
            rows[r] = rows[r][:c]
        elif op == "A":
            r = max(0, r - n)
        elif op == "J":
            rows[r] = rows[r][:c]
            del rows[r + 1:]
        else:
            sys.exit("ptyrun: unexpected escape ESC[%s%s" % (m.group(1), op))
        i = m.end()
        continue
    if ch == "\r":
        c = 0
    elif ch == "\n":
        r += 1
        if r == len(rows):
            rows.append("")
    else:
        line = rows[r].ljust(c)
        rows[r] = line[:c] + ch + line[c + 1:]
        c += 1
    i += 1
with open(screen_path, "w") as f:
    f.write("\n".join(x.rstrip() for x in rows).rstrip("\n") + "\n")
sys.exit(os.waitstatus_to_exitcode(status))

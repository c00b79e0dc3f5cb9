#!/usr/bin/env python3
"""Where a build waits: read `perf sched record` data of one `enclaver build` and print
how much of its wall time 0, 1 or 2+ of its threads were on a CPU, how long its threads
were runnable but waiting for a CPU (other users' load), how long all of them slept
(fsync, disk, locks), per-thread run / sleep / queue times, and (with --timeline) the
on-CPU milliseconds of each thread per time bucket.

    bench/sched-summary.py PERF_DATA --pid PID [--timeline SECONDS]

PID is the build's process id: only its threads count (other users' enclaver
processes on a shared machine have the same thread names).
"""
import collections
import re
import subprocess
import sys

THREAD = re.compile(r'^(.*)\[(\d+)(?:/(\d+))?\]$')


def events(path):
    out = subprocess.run(['perf', 'sched', 'timehist', '-i', path], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    for line in out[3:]:
        p = line.split()
        try:
            t = float(p[0])
            w, d, r = (float(x) / 1e3 for x in p[-3:])
        except (ValueError, IndexError):
            continue
        yield t, p[2], w, d, r


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    bucket = pid = None
    if '--pid' in args:
        i = args.index('--pid')
        pid = args[i + 1]
        del args[i:i + 2]
    if pid is None:
        sys.exit(__doc__)
    if '--timeline' in args:
        i = args.index('--timeline')
        bucket = float(args[i + 1])
        del args[i:i + 2]
    ev, per, other = [], collections.defaultdict(lambda: [0.0, 0.0, 0.0]), []
    runs = collections.defaultdict(list)
    t0 = t1 = None
    for t, task, w, d, r in events(args[0]):
        m = THREAD.match(task)
        if not m or (m.group(3) or m.group(2)) != pid:
            if not task.startswith('<idle>'):
                other.append((t - r, t))
            continue
        name = m.group(1)
        rs = t - r
        ev += [(rs, 1, 0), (t, -1, 0)]
        if d > 0:
            ev += [(rs - d, 1, 1), (rs, -1, 1)]
        per[name][0] += r
        per[name][1] += w
        per[name][2] += d
        runs[name].append((rs, t))
        t0 = rs - d if t0 is None else min(t0, rs - d)
        t1 = t if t1 is None else max(t1, t)
    if t0 is None:
        sys.exit('no enclaver threads in ' + args[0])
    ev.sort()
    run = queued = 0
    last = t0
    on = collections.Counter()
    both = collections.Counter()
    gaps = []
    for t, delta, kind in ev:
        on[min(run, 2)] += t - last
        both[(min(run, 2), min(queued, 1))] += t - last
        if run == 0 and queued == 0 and t - last > 0.02:
            gaps.append((last - t0, t - last))
        last = t
        if kind == 0:
            run += delta
        else:
            queued += delta
    wall = t1 - t0
    print('window %.3f s (first to last event of the build\'s threads)' % wall)
    for k in range(3):
        print('  %s of its threads on a CPU: %6.3f s (%2.0f %%)' % ('2+' if k == 2 else k, on[k], 100 * on[k] / wall))
    print('  fewer than 2 on a CPU while one is runnable (waiting for a CPU: load): %6.3f s'
          % sum(v for (r, q), v in both.items() if q and r < 2))
    print('  exactly 1 on a CPU, none runnable (the others asleep: serial):      %6.3f s' % both[(1, 0)])
    print('  none on a CPU, none runnable (all asleep: fsync, disk, locks):      %6.3f s' % both[(0, 0)])
    print('  all-asleep stretches > 20 ms (start s + ms): ' + (', '.join('%.3f+%.0f' % (s, d * 1e3) for s, d in gaps) or 'none'))
    print('  %-14s %9s %9s %9s   (ms)' % ('thread', 'run', 'asleep', 'queued'))
    for name, (r, w, d) in sorted(per.items(), key=lambda kv: -kv[1][0]):
        print('  %-14s %9.0f %9.0f %9.0f' % (name, r * 1e3, w * 1e3, d * 1e3))
    if bucket:
        def spread(iv):
            b = collections.Counter()
            for s, e in iv:
                s -= t0
                e -= t0
                while s < e:
                    k = int(s / bucket)
                    end = min(e, (k + 1) * bucket)
                    b[k] += end - s
                    s = end
            return b
        names = sorted(runs, key=lambda n: min(s for s, _ in runs[n]))
        b = {n: spread(runs[n]) for n in names}
        ob = spread(other)
        print('\non-CPU ms per %.0f ms bucket (other = every other task on the machine; 2 cores = %.0f ms)'
              % (bucket * 1e3, 2 * bucket * 1e3))
        print('%7s ' % 's' + ' '.join('%13s' % n[:13] for n in names) + ' %6s' % 'other')
        for k in range(int(wall / bucket) + 1):
            print('%7.2f ' % (k * bucket) + ' '.join('%13.0f' % (b[n][k] * 1e3) for n in names) + ' %6.0f' % (ob[k] * 1e3))


if __name__ == '__main__':
    main()

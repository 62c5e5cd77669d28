#!/usr/bin/env python3
# Usage: python3 scripts/bench/pg_backend_cpu.py medilink_bench_ > cpu.out & … run the bench …; kill $!
"""Samples the CPU time (user+system) of the PostgreSQL backends serving databases whose name
starts with a prefix, until SIGTERM; prints the total in seconds."""
import os, signal, sys, time
prefix = sys.argv[1]
tick = os.sysconf('SC_CLK_TCK')
seen = {}
stop = False
def done(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, done)
while not stop:
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f'/proc/{pid}/cmdline','rb').read().decode(errors='replace')
            if ': postgres ' + prefix not in cmd:
                continue
            f = open(f'/proc/{pid}/stat').read().rsplit(')',1)[1].split()
            seen[pid] = max(seen.get(pid,0), int(f[11]) + int(f[12]))
        except OSError:
            pass
    time.sleep(0.1)
print(f"{sum(seen.values())/tick:.2f}")

#!/usr/bin/env python3
"""CPU seconds (utime + stime from /proc/PID/stat) of the processes taking part in one
benchmark run, grouped by role, sampled until SIGTERM or SIGINT. Used by bench/delivery.sh.

    bench/cpu.py OUT BIN SINK_PORT [PG_DB]

Roles: each `breakfast` process started from BIN (by its sub-command), the smtp-sink
listening on SINK_PORT, the PostgreSQL backends connected to PG_DB, and PostgreSQL's own
background processes (WAL writer, checkpointer, autovacuum: shared with anything else
using the server). Processes already running at the start count from their reading then;
processes that exit keep their last reading (sampled every 0.1 s, so at most that much of
a process's last moments is missed). OUT gets one line per role: role, CPU seconds,
number of processes.
"""
import os
import signal
import sys
import time

out, binary, port = sys.argv[1], os.path.realpath(sys.argv[2]), sys.argv[3]
pg_db = sys.argv[4] if len(sys.argv) > 4 else None
tick = os.sysconf("SC_CLK_TCK")
stop = False


def on_signal(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)


def role(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return None
    cmd = b" ".join(argv).decode(errors="replace")
    if cmd.startswith("postgres: "):
        # "postgres: 15/main: postgres DB 127.0.0.1(…) idle" or "postgres: 15/main: walwriter"
        rest = cmd.split(": ", 2)[-1]
        words = rest.split()
        if pg_db and len(words) >= 2 and words[1] == pg_db:
            return "postgres backends"
        if len(words) >= 2 and "(" in rest:
            return None  # another database's backend
        return "postgres background"
    if "smtp-sink" in cmd and f":{port}" in cmd:
        return "smtp-sink"
    try:
        exe = os.path.realpath(f"/proc/{pid}/exe")
    except OSError:
        return None
    if exe == binary:
        sub = [a.decode() for a in argv[1:] if a and not a.startswith(b"-")]
        return "breakfast " + " ".join(sub[:2])
    return None


def cpu(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


base, last, roles = {}, {}, {}
first = True
while True:
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if roles.get(pid) is None:  # again until known: a fork shows its parent's title
            roles[pid] = role(pid)
        if roles[pid] is None:
            continue
        t = cpu(pid)
        if t is None:
            continue
        if pid not in base:
            base[pid] = t if first else 0
        last[pid] = t
    first = False
    if stop:
        break
    time.sleep(0.1)

totals = {}
for pid, t in last.items():
    r = roles[pid]
    secs, n = totals.get(r, (0.0, 0))
    totals[r] = (secs + (t - base[pid]) / tick, n + 1)
with open(out, "w") as f:
    for r, (secs, n) in sorted(totals.items()):
        f.write(f"{r}\t{secs:.2f}\t{n}\n")

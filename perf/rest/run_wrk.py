#!/usr/bin/env python3
"""One wrk run plus the CPU each party used during it (perf/rest/bench_rooms.sh).

    run_wrk.py [--cpu NAME=PID[,PID...]]... [--cpu-children NAME=PID]... -- wrk ARGS...

Runs wrk (its output must carry the "WRK_JSON {...}" line of perf/rest/rooms.lua) and prints
one JSON object: wrk's figures plus "cpu": cores used on average over the run by each
named process group (user+system time from /proc/PID/stat, all threads), by wrk itself
(rusage of the child), by the whole machine (/proc/stat, non-idle share times CPUs) and by
everything else ("others": machine minus the above; "others_top": the busiest other
processes alive at both ends of the run, to name what ran concurrently). --cpu-children
counts PID and its direct children (PostgreSQL's postmaster and its backends). Processes
that end during the run are counted up to their last sample only.
"""
import json
import os
import resource
import signal
import subprocess
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / HZ
    except (OSError, IndexError, ValueError):
        return None


def children(pid):
    out = [pid]
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def all_procs():
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    head, tail = f.read().rsplit(")", 1)
                fields = tail.split()
                out[int(d)] = (head.split("(", 1)[1], (int(fields[11]) + int(fields[12])) / HZ)
            except (OSError, IndexError, ValueError):
                pass
    return out


def machine_cpu():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / HZ, sum(v[:8]) / HZ


def main():
    argv = sys.argv[1:]
    groups = {}
    expand = set()
    while argv and argv[0] != "--":
        opt, spec = argv[0], argv[1]
        argv = argv[2:]
        name, pids = spec.split("=", 1)
        groups[name] = [int(p) for p in pids.split(",") if p]
        if opt == "--cpu-children":
            expand.add(name)
    cmd = argv[1:]

    def sample():
        s = {}
        for name, pids in groups.items():
            ps = children(pids[0]) if name in expand else pids
            s[name] = {p: proc_cpu(p) for p in ps}
        return s

    before = sample()
    procs0 = all_procs()
    m0 = machine_cpu()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def stop(signum, frame):  # stopped from outside: stop wrk too
        p.terminate()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    time.sleep(0.5)
    procs_mid = all_procs()  # wrk (and env) are alive now: known, so not "others"
    out, err = p.communicate()
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    m1 = machine_cpu()
    after = sample()
    procs1 = all_procs()
    if p.returncode != 0:
        sys.stderr.write(out + err)
        sys.exit("run_wrk: wrk exited %d" % p.returncode)
    line = [l for l in out.splitlines() if l.startswith("WRK_JSON ")]
    if not line:
        sys.stderr.write(out + err)
        sys.exit("run_wrk: no WRK_JSON line in wrk's output")
    res = json.loads(line[-1][len("WRK_JSON "):])
    cpu = {}
    ours = {os.getpid()} | {pid for pid in procs_mid if pid not in procs0}
    for name in groups:
        ours |= set(after[name]) | set(before[name])
        used = 0.0
        for pid, end in after[name].items():
            if end is not None:
                used += end - (before[name].get(pid) or 0.0)
        cpu[name] = round(used / wall, 2)
    cpu["wrk"] = round(((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) / wall, 2)
    busy = m1[0] - m0[0]
    total = m1[1] - m0[1]
    share = busy / total if total > 0 else 0.0
    ncpu = os.cpu_count() or 1
    cpu["machine_busy"] = round(share * ncpu, 2)
    cpu["machine_busy_pct"] = round(100.0 * share, 1)
    known = sum(v for k, v in cpu.items() if not k.startswith("machine"))
    cpu["others"] = round(max(0.0, share * ncpu - known), 2)
    others = []
    for pid, (comm, end) in procs1.items():
        if pid in ours or pid not in procs0:
            continue
        used = (end - procs0[pid][1]) / wall
        if used >= 0.02:
            others.append((used, comm))
    others.sort(reverse=True)
    res["others_top"] = ["%s %.2f" % (c, u) for u, c in others[:4]]
    res["cpu_cores"] = cpu
    res["wall_s"] = round(wall, 2)
    print(json.dumps(res))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""mpbtrace_maps.py - where the time of each map of mpibench_executor's CPU
figure goes, from the trace of a build with -DMPB_TRACE (docs/mpi.md):

    cmake -S . -B build/trace -DCMAKE_BUILD_TYPE=Release -DMP_BUILD_TESTS=OFF \
          -DMP_BUILD_BENCH=ON -DCMAKE_C_FLAGS=-DMPB_TRACE
    BENCH_ONLY=cpu mpirun ... build/trace/bench/mpibench_executor 2>trace.txt
    bench/mpi/mpbtrace_maps.py trace.txt

For each of the last `maps` maps of `tasks` tasks (5 and 8: the CPU
figure) it prints the map's time (rank 0's first "queue" to its last
"got"), the largest sum of task CPU time over the ranks (what the map
would take with no overhead), and, on the rank that ends last: the time
before its first task starts, the gaps between its tasks, the time its
local worker was runnable but not running during tasks (wall minus CPU:
other processes, ours included), and the time from its last task's end
to rank 0's "got".  Then each rank's task CPU times (the ranks' CPUs may
differ in speed) and how many times rank 0 napped ("nap" events).
"""
import sys


def load(path):
    ev = []
    for line in open(path, errors="replace"):
        p = line.split()
        if len(p) != 7 or p[0] != "mpbtrace":
            continue
        try:
            ev.append((int(p[5]), int(p[1]), p[2], int(p[3]), int(p[6])))
        except ValueError:  # lines of two processes mixed
            pass
    ev.sort()
    return ev


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    ev = load(sys.argv[1])
    maps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    tasks = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    # a worker rank's pid -> its rank; a local worker's "start"/"end"
    # carry its parent's pid (the rank's) in place of a rank
    rank_of = {pid: r for _, pid, e, r, _ in ev if e in ("hand", "done")}
    queued = [x for x in ev if x[2] == "queue"][-maps * tasks:]
    for m in range(maps):
        t0 = queued[m * tasks][0]
        t1 = queued[(m + 1) * tasks][0] if m + 1 < maps else ev[-1][0] + 1
        seg = [x for x in ev if t0 <= x[0] < t1]
        end = [x for x in seg if x[2] == "got"][-1][0]
        ranks = {}
        for x in seg:
            if x[2] in ("start", "end") and x[3] in rank_of:
                ranks.setdefault(rank_of[x[3]], []).append(x)
        info = {}
        for k, xs in ranks.items():
            cpu = wait = gaps = 0
            begin = last_end = None
            runs = []
            for t, _, e, _, c in xs:
                if e == "start":
                    if last_end is not None:
                        gaps += t - last_end
                    begin = (t, c)
                elif begin is not None:
                    cpu += c - begin[1]
                    wait += (t - begin[0]) - (c - begin[1])
                    runs.append((c - begin[1]) / 1e6)
                    last_end = t
            info[k] = dict(cpu=cpu, wait=wait, gaps=gaps, first=xs[0][0] - t0,
                           last=last_end or t0, runs=runs)
        k = max(info, key=lambda r: info[r]["last"])
        i = info[k]
        naps = sum(1 for x in seg if x[2] == "nap")
        print("map %d: %.1f ms; largest task CPU per rank %.1f; rank %d ends "
              "last: start %.1f gaps %.1f runnable %.1f last result %.1f; "
              "rank 0 napped %d times" %
              (m, (end - t0) / 1e6, max(v["cpu"] for v in info.values()) / 1e6,
               k, i["first"] / 1e6, i["gaps"] / 1e6, i["wait"] / 1e6,
               (end - i["last"]) / 1e6, naps))
        for r in sorted(info):
            print("  rank %d task CPU ms: %s" %
                  (r, " ".join("%.1f" % v for v in info[r]["runs"])))


if __name__ == "__main__":
    main()

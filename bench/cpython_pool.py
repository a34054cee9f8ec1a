"""CPython twin of bench_pool.c: multiprocessing.Pool and ProcessPoolExecutor
with 2 workers: tiny-task throughput, map over tiny items, CPU-bound map
speedup, memory of an idle worker (start method fork)."""
import multiprocessing as mp
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

REPS = 3
MAP_REPS = 5          # maps: the first runs pay page faults (as in bench_pool.c)
WORKERS = 2
N_TASKS = 20_000      # tiny tasks per run (bench_pool.c: 200k; CPython is slow)
N_SUBMIT = 10_000     # the same for the executor (slower still)
N_MAP = 10**6         # tiny map items (bench_pool.c: 10^7)
CPU_TASKS = 8         # CPU-bound map: 8 elements, as the seeds
CPU_N = 2_500_000     # iterations each; 8 of them take ~1 s serially here
CPY_KILLS = 100       # crash recovery (bench_pool.c: 1000; a new executor each)
N_FRESH = 1_000       # maxtasksperchild=1 pool (bench_pool.c: 10^4; CPython is slow)


def tiny_task(x):
    return x + 1


def square(x):
    return x * x


def cpu_intensive(n):
    """The seeds' CPU-bound task."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def getpid_task():
    time.sleep(0.02)  # long enough for the other worker to take the next
    return os.getpid()


def apply_rate(pool):
    t0 = time.perf_counter()
    rs = [pool.apply_async(tiny_task, (i,)) for i in range(N_TASKS)]
    for i, r in enumerate(rs):
        if r.get() != i + 1:
            raise SystemExit("wrong result")
    return N_TASKS / (time.perf_counter() - t0)


def submit_rate(ex):
    t0 = time.perf_counter()
    fs = [ex.submit(tiny_task, i) for i in range(N_SUBMIT)]
    for i, f in enumerate(fs):
        if f.result() != i + 1:
            raise SystemExit("wrong result")
    return N_SUBMIT / (time.perf_counter() - t0)


def map_rate(pool):
    t0 = time.perf_counter()
    out = pool.map(square, range(N_MAP))  # default chunksize
    t = time.perf_counter() - t0
    if out[12345] != 12345 * 12345:
        raise SystemExit("wrong map result")
    return N_MAP / t


def cpu_times(pool):
    """(serial time, time of the same map on the pool) of the seeds' task."""
    args = [CPU_N] * CPU_TASKS
    t0 = time.perf_counter()
    serial = [cpu_intensive(n) for n in args]
    ts = time.perf_counter() - t0
    t0 = time.perf_counter()
    par = pool.map(cpu_intensive, args)
    tp = time.perf_counter() - t0
    if par != serial:
        raise SystemExit("cpu map: results differ")
    return ts, tp


def cpu_speedup(pool):
    """Median serial time / median pool time (medians of the times, not of
    the ratios: steadier on a noisy machine)."""
    ts, tp = zip(*(cpu_times(pool) for _ in range(REPS)))
    return statistics.median(ts) / statistics.median(tp)


def pss_kib(pid):
    """Pss, not Rss: a forked worker shares most pages with the parent and
    its siblings; Pss counts its private pages plus a fair share (1/n) of
    each page n processes share, so the workers' Pss adds up to their cost."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return float(line.split()[1])
    raise SystemExit("no Pss in smaps_rollup")


def worker_pss():
    """Mean Pss of the idle workers of a fresh Pool (after a few tasks)."""
    with mp.Pool(WORKERS) as pool:
        seen = set()
        for _ in range(50):
            rs = [pool.apply_async(getpid_task) for _ in range(WORKERS)]
            seen.update(r.get() for r in rs)
            if len(seen) >= WORKERS:
                break
        pids = {p.pid for p in pool._pool}  # the workers, as Pool knows them
        if seen != pids:
            raise SystemExit("could not find every worker's pid")
        time.sleep(0.1)  # idle
        return statistics.mean(pss_kib(p) for p in pids)


def pid_then_hang(fd):
    os.write(fd, os.getpid().to_bytes(4, "little"))
    while True:
        time.sleep(3600)


def crash_recovery(kills=CPY_KILLS):
    """(p50, p99) microseconds from the SIGKILL of a worker in the middle of
    a task to the waiter's return.  CPython's Pool never returns (get()
    hangs on a task whose worker died), so this is the executor's: the
    future fails with BrokenProcessPool, and the executor is broken for
    good, so each kill needs a new one (fewer kills than bench_pool.c)."""
    from concurrent.futures.process import BrokenProcessPool
    r, w = os.pipe()
    us = []
    for _ in range(kills):
        with ProcessPoolExecutor(WORKERS) as ex:
            f = ex.submit(pid_then_hang, w)
            pid = int.from_bytes(os.read(r, 4), "little")
            t0 = time.perf_counter()
            os.kill(pid, 9)
            try:
                f.result()
                raise SystemExit("the task survived its worker")
            except BrokenProcessPool:
                us.append((time.perf_counter() - t0) * 1e6)
    os.close(r)
    os.close(w)
    us.sort()
    return us[len(us) // 2], us[len(us) * 99 // 100]


def fresh_rate(method):
    """Tasks per second of Pool(2, maxtasksperchild=1) started by method."""
    with mp.get_context(method).Pool(WORKERS, maxtasksperchild=1) as pool:
        t0 = time.perf_counter()
        rs = [pool.apply_async(tiny_task, (i,)) for i in range(N_FRESH)]
        for i, r in enumerate(rs):
            if r.get() != i + 1:
                raise SystemExit("wrong result")
        return N_FRESH / (time.perf_counter() - t0)


def line(figure, value, unit):
    print(f"figure={figure} cpython={value:.4g} unit={unit}", flush=True)


if __name__ == "__main__":
    mp.set_start_method("fork")
    line("pool_worker_idle_rss_kib",
         statistics.median(worker_pss() for _ in range(REPS)), "KiB")
    with mp.Pool(WORKERS) as pool:
        rate = statistics.median(apply_rate(pool) for _ in range(REPS))
        line("pool_apply_async_tasks_per_s", rate, "tasks_per_s")
        # CPython has no batch form: its loop of apply_async is the
        # comparison of the _many figure.
        line("pool_apply_async_many_tasks_per_s", rate, "tasks_per_s")
        with ProcessPoolExecutor(WORKERS) as ex:
            rate = statistics.median(submit_rate(ex) for _ in range(REPS))
            line("executor_submit_tasks_per_s", rate, "tasks_per_s")
            line("executor_submit_many_tasks_per_s", rate, "tasks_per_s")
        line("pool_map_tiny_items_per_s",
             statistics.median(map_rate(pool) for _ in range(MAP_REPS)),
             "items_per_s")
        p50, p99 = crash_recovery()
        line("pool_crash_recovery_us", p99, "us_p99")
        line("pool_crash_recovery_p50_us", p50, "us")
        line("pool_map_cpu_speedup", cpu_speedup(pool), "x")
    fs = statistics.median(fresh_rate("forkserver") for _ in range(REPS))
    fk = statistics.median(fresh_rate("fork") for _ in range(REPS))
    print(f"figure=pool_fresh_process_tasks_per_s cpython={fs:.4g} "
          f"cpython_fork={fk:.4g} unit=tasks_per_s", flush=True)

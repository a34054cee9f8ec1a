"""CPython twin of bench_process.c: Process(target=f).start(); join(),
through each start method (get_context), and from a big parent."""
import multiprocessing as mp
import os
import statistics
import time

REPS = 3


def nothing():
    pass


def once(ctx, n):
    t0 = time.perf_counter()
    for _ in range(n):
        p = ctx.Process(target=nothing)
        p.start()
        p.join()
    return (time.perf_counter() - t0) / n * 1e6


def figure(name, method, n):
    ctx = mp.get_context(method)
    once(ctx, 2)  # warm up (forkserver starts its server here)
    v = statistics.median(once(ctx, n) for _ in range(REPS))
    print(f"figure={name} cpython={v:.4g} unit=us", flush=True)


if __name__ == "__main__":
    figure("process_start_join_us", "fork", 300)
    figure("process_start_join_fork_us", "fork", 300)
    figure("process_start_join_forkserver_us", "forkserver", 100)
    figure("process_start_join_spawn_us", "spawn", 20)
    mb = int(os.environ.get("MP_BENCH_BIG_MB", "4096"))
    if mb > 0:
        big = bytearray(mb << 20)
        for i in range(0, mb << 20, 4096):  # touch every page
            big[i] = 1
        figure("process_start_join_forkserver_big_parent_us", "forkserver", 100)
        figure("process_start_join_fork_big_parent_us", "fork", 30)
        del big

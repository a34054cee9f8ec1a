"""CPython twin of bench_process.c: Process(target=f).start(); join()."""
import multiprocessing as mp
import statistics
import time

N, REPS = 300, 3


def nothing():
    pass


def once():
    t0 = time.perf_counter()
    for _ in range(N):
        p = mp.Process(target=nothing)
        p.start()
        p.join()
    return (time.perf_counter() - t0) / N * 1e6


if __name__ == "__main__":
    mp.set_start_method("fork")
    v = statistics.median(once() for _ in range(REPS))
    print(f"figure=process_start_join_us cpython={v:.4g} unit=us", flush=True)

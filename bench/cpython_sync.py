"""CPython twin of bench_sync.c: mp.Lock acquire/release, locked Value += 1."""
import multiprocessing as mp
import statistics
import time

N, REPS, INCR = 1_000_000, 3, 100_000


def lock_ns(lock):
    acquire, release = lock.acquire, lock.release
    t0 = time.perf_counter()
    for _ in range(N):
        acquire()
        release()
    return (time.perf_counter() - t0) / N * 1e9


def add(v):
    for _ in range(INCR):
        with v.get_lock():
            v.value += 1


def value_rate():
    v = mp.Value("i", 0)
    ps = [mp.Process(target=add, args=(v,)) for _ in range(2)]
    t0 = time.perf_counter()
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    assert v.value == 2 * INCR
    return 2 * INCR / (time.perf_counter() - t0)


if __name__ == "__main__":
    mp.set_start_method("fork")
    lock = mp.Lock()
    ns = statistics.median(lock_ns(lock) for _ in range(REPS))
    print(f"figure=lock_uncontended_ns cpython={ns:.4g} unit=ns", flush=True)
    rate = statistics.median(value_rate() for _ in range(REPS))
    print(f"figure=value_locked_incr_per_s cpython={rate:.4g} unit=per_s", flush=True)

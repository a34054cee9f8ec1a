"""CPython twin of bench_queue.c: multiprocessing.Queue throughput."""
import multiprocessing as mp
import statistics
import time

REPS = 3


def produce(q, n, size):
    msg = bytes(size)
    for _ in range(n):
        q.put(msg)


def consume(q, n):
    for _ in range(n):
        q.get()


def rate(np_, nc, n, size):
    q = mp.Queue()
    ps = [mp.Process(target=consume, args=(q, n // nc)) for _ in range(nc)]
    ps += [mp.Process(target=produce, args=(q, n // np_, size)) for _ in range(np_)]
    t0 = time.perf_counter()
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    return n / (time.perf_counter() - t0)


if __name__ == "__main__":
    mp.set_start_method("fork")
    r = statistics.median(rate(1, 1, 200_000, 64) for _ in range(REPS))
    print(f"figure=queue_64B_msgs_per_s cpython={r:.4g} unit=msgs_per_s", flush=True)
    r = statistics.median(rate(4, 4, 200_000, 64) for _ in range(REPS))
    print(f"figure=queue_4x4_64B_msgs_per_s cpython={r:.4g} unit=msgs_per_s", flush=True)
    r = statistics.median(rate(1, 1, 500, 1 << 20) for _ in range(REPS)) / 1.048576
    print(f"figure=queue_1MiB_MBps cpython={r:.4g} unit=MB_per_s", flush=True)

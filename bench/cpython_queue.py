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


def echo(a, b, n):
    for _ in range(n):
        b.put(a.get())


def pingpong(n):
    """n round trips of one 64-byte message each way over two queues: the
    median and p99 round trip in microseconds (the first tenth warms up)."""
    a, b = mp.Queue(), mp.Queue()
    p = mp.Process(target=echo, args=(a, b, n + n // 10))
    p.start()
    msg, rtt = bytes(64), []
    for i in range(n + n // 10):
        t0 = time.perf_counter()
        a.put(msg)
        b.get()
        if i >= n // 10:
            rtt.append((time.perf_counter() - t0) * 1e6)
    p.join()
    rtt.sort()
    return statistics.median(rtt), rtt[len(rtt) * 99 // 100]


if __name__ == "__main__":
    mp.set_start_method("fork")
    r = statistics.median(rate(1, 1, 200_000, 64) for _ in range(REPS))
    print(f"figure=queue_64B_msgs_per_s cpython={r:.4g} unit=msgs_per_s", flush=True)
    r = statistics.median(rate(4, 4, 200_000, 64) for _ in range(REPS))
    print(f"figure=queue_4x4_64B_msgs_per_s cpython={r:.4g} unit=msgs_per_s", flush=True)
    r = statistics.median(rate(1, 1, 500, 1 << 20) for _ in range(REPS)) / 1.048576
    print(f"figure=queue_1MiB_MBps cpython={r:.4g} unit=MB_per_s", flush=True)
    m, p99 = pingpong(10_000)
    print(f"figure=queue_pingpong_64B_us cpython={m:.3g} cpython_p99={p99:.3g} "
          "unit=us_per_round_trip", flush=True)

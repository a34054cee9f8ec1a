"""CPython twin of bench_manager.c: a Manager dict's set and get by one
client process over 100 keys, the tutorial's locked deposit by two, and a
Manager Queue's put + get by one client process."""
import multiprocessing as mp
import statistics
import time

KEYS, OPS, REPS, INCR = 100, 20_000, 3, 2_000


def client(d, get, out):
    keys = [f"key{i}" for i in range(KEYS)]
    t0 = time.perf_counter()
    for i in range(OPS):
        k = keys[i % KEYS]
        if get:
            d[k]
        else:
            d[k] = i % KEYS
    out.put(OPS / (time.perf_counter() - t0))


def queue_client(q, _, out):
    t0 = time.perf_counter()
    for i in range(OPS):
        q.put(i % KEYS)
        q.get()
    out.put(OPS / (time.perf_counter() - t0))


def client_rate(d, get, target=client):
    q = mp.SimpleQueue()
    p = mp.Process(target=target, args=(d, get, q))
    p.start()
    rate = q.get()
    p.join()
    return rate


def deposit(d, lock):
    for _ in range(INCR):
        with lock:
            d["balance"] += 1


def incr_rate(d, lock):
    d["balance"] = 0
    ps = [mp.Process(target=deposit, args=(d, lock)) for _ in range(2)]
    t0 = time.perf_counter()
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    assert d["balance"] == 2 * INCR
    return 2 * INCR / (time.perf_counter() - t0)


if __name__ == "__main__":
    mp.set_start_method("fork")
    with mp.Manager() as m:
        d = m.dict()
        for i in range(KEYS):
            d[f"key{i}"] = i
        lock = mp.Lock()
        for name, get in (("set", False), ("get", True)):
            r = statistics.median(client_rate(d, get) for _ in range(REPS))
            print(f"figure=manager_dict_{name}_ops_per_s cpython={r:.4g} "
                  "unit=ops_per_s", flush=True)
        r = statistics.median(incr_rate(d, lock) for _ in range(REPS))
        print(f"figure=manager_locked_incr_per_s cpython={r:.4g} unit=per_s",
              flush=True)
        q = m.Queue()
        r = statistics.median(client_rate(q, None, queue_client)
                              for _ in range(REPS))
        print(f"figure=manager_queue_put_get_per_s cpython={r:.4g} "
              "unit=per_s", flush=True)

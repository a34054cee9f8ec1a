"""CPython twin of bench_connection.c: Pipe ping-pong round trip."""
import multiprocessing as mp
import statistics
import time

N, REPS = 20000, 3


def echo(a, d):
    for _ in range(N):
        d.send_bytes(a.recv_bytes())


def rtt():
    a, b = mp.Pipe(duplex=False)
    c, d = mp.Pipe(duplex=False)
    p = mp.Process(target=echo, args=(a, d))
    p.start()
    t0 = time.perf_counter()
    for _ in range(N):
        b.send_bytes(b"ping")
        c.recv_bytes()
    t = time.perf_counter() - t0
    p.join()
    return t / N * 1e6


if __name__ == "__main__":
    mp.set_start_method("fork")
    v = statistics.median(rtt() for _ in range(REPS))
    print(f"figure=pipe_roundtrip_us cpython={v:.4g} unit=us", flush=True)

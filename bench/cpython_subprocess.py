"""CPython twin of bench_subprocess.c."""
import statistics
import subprocess
import time

N, REPS = 300, 3


def per_call(fn):
    t0 = time.perf_counter()
    for _ in range(N):
        fn()
    return (time.perf_counter() - t0) / N * 1e6


def median(fn):
    return statistics.median(per_call(fn) for _ in range(REPS))


if __name__ == "__main__":
    true = median(lambda: subprocess.run(["/bin/true"]))
    print(f"figure=subprocess_run_true_us cpython={true:.4g} unit=us", flush=True)
    cap = median(lambda: subprocess.run(["/bin/echo", "hi"], capture_output=True))
    print(f"figure=subprocess_run_capture_us cpython={cap:.4g} unit=us", flush=True)
    big = bytearray(1 << 30)
    for i in range(0, len(big), 4096):
        big[i] = 1
    bigp = median(lambda: subprocess.run(["/bin/true"]))
    print(f"figure=subprocess_run_true_big_parent_us cpython={bigp:.4g} unit=us",
          flush=True)

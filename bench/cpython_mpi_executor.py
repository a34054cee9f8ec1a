"""cpython_mpi_executor.py - mpi4py.futures doing what
bench/mpi/mpibench_executor.c does, with 2 worker ranks:

    mpirun --oversubscribe -np 3 /usr/bin/python3 -m mpi4py.futures \\
        bench/cpython_mpi_executor.py

(Debian's python3-mpi4py: /usr/bin/python3.)  The CPU figure is this side's
own speedup: its map on the 2 ranks against its own serial loop, timed by
`python3 cpython_mpi_executor.py serial` in a run of its own, with no rank
around (bench/run.sh passes it in BENCH_MPI_SERIAL_S; without it the loop is
timed here, while mpi4py's worker ranks poll, which slows it)."""
import os
import sys
import time

N_SUBMIT = 5000
N_MAP = 200000
CHUNK = 25000
CPU_TASKS = 8
CPU_N = 1000000


def tiny(x):
    return x


def square(x):
    return x * x


def cpu_intensive(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


def median3(fn):
    v = sorted(fn() for _ in range(3))
    return v[1]


def serial_time():
    t0 = time.monotonic()
    serial = [cpu_intensive(CPU_N) for _ in range(CPU_TASKS)]
    return time.monotonic() - t0, serial


def main():
    from mpi4py.futures import MPIPoolExecutor

    with MPIPoolExecutor() as ex:
        def submit_rate():
            t0 = time.monotonic()
            fs = [ex.submit(tiny, i) for i in range(N_SUBMIT)]
            assert [f.result() for f in fs] == list(range(N_SUBMIT))
            return N_SUBMIT / (time.monotonic() - t0)

        def map_rate():
            t0 = time.monotonic()
            out = list(ex.map(square, range(N_MAP), chunksize=CHUNK))
            t = time.monotonic() - t0
            assert out[997] == 997 * 997
            return N_MAP / t

        runs = []

        def cpu_speedup():
            given = os.environ.get("BENCH_MPI_SERIAL_S")
            if given:
                ts, serial = float(given), [cpu_intensive(CPU_N)] * CPU_TASKS
            else:
                ts, serial = serial_time()
            t0 = time.monotonic()
            par = list(ex.map(cpu_intensive, [CPU_N] * CPU_TASKS))
            tp = time.monotonic() - t0
            assert par == serial
            runs.append((ts / tp, ts, tp))
            return ts / tp

        submit_rate()  # warm-up: the workers start
        print("figure=mpi_executor_submit_tasks_per_s cpython=%.4g "
              "unit=tasks/s" % median3(submit_rate), flush=True)
        print("figure=mpi_executor_map_items_per_s cpython=%.4g "
              "unit=items/s" % median3(map_rate), flush=True)
        for _ in range(5):
            cpu_speedup()
        runs.sort()
        print("figure=mpi_executor_cpu_speedup cpython=%.4g "
              "cpython_serial_s=%.3f cpython_parallel_s=%.3f unit=x"
              % runs[2], flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["serial"]:
        print("%.4f" % sorted(serial_time()[0] for _ in range(3))[1])
    else:
        main()

#!/bin/sh
# Run every benchmark program and its CPython twin, and print one line per
# figure:  figure=<name> mproc=<v> cpython=<v> baseline=<v> unit=<u>
# (a side that was not measured is left out).  Exits 1 if a bench program
# failed, after printing what the others measured.  Usage: run.sh BENCH_BUILD_DIR
set -u
dir=$1
here=$(dirname "$0")
out=$(mktemp)
failed=0
trap 'rm -f "$out"' EXIT
for b in "$dir"/bench_*; do
  [ -x "$b" ] || continue
  mod=$(basename "$b"); mod=${mod#bench_}
  "$b" >>"$out" || { echo "bench_$mod failed (exit $?)" >&2; failed=1; }
  if [ -f "$here/cpython_$mod.py" ]; then
    python3 "$here/cpython_$mod.py" >>"$out" || echo "cpython_$mod.py failed" >&2
  fi
done
# The executor across MPI ranks: 3 ranks (rank 0 and 2 worker ranks) for
# both sides; mpi4py comes with Debian's /usr/bin/python3.  The CPU
# speedup's serial loop is timed in a run of its own, with no rank around
# (each side its own loop), and passed in BENCH_MPI_SERIAL_S.
if [ -x "$dir/mpibench_executor" ] && command -v mpirun >/dev/null 2>&1; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  BENCH_MPI_SERIAL_S=$("$dir/mpibench_executor" serial) \
    mpirun --oversubscribe --quiet -x BENCH_MPI_SERIAL_S -np 3 \
    "$dir/mpibench_executor" >>"$out" || echo "mpibench_executor failed" >&2
  if /usr/bin/python3 -c 'import mpi4py.futures' 2>/dev/null; then
    BENCH_MPI_SERIAL_S=$(/usr/bin/python3 "$here/cpython_mpi_executor.py" serial) \
      mpirun --oversubscribe --quiet -x BENCH_MPI_SERIAL_S -np 3 \
      /usr/bin/python3 -m mpi4py.futures "$here/cpython_mpi_executor.py" \
      >>"$out" || echo "cpython_mpi_executor.py failed" >&2
  fi
fi
# Merge the lines of each figure, in the order figures first appeared:
# mproc, cpython, baseline, then any other field (bare_ring=, spread=, ...)
# in the order first seen, then unit.
awk '
  /^figure=/ {
    for (i = 1; i <= NF; i++) {
      split($i, kv, "="); k = kv[1]; v = substr($i, length(k) + 2)
      if (k == "figure") { f = v; if (!(f in seen)) { seen[f] = 1; order[++n] = f } }
      else {
        if (k !~ /^(mproc|cpython|baseline|unit)$/ && !((f, k) in val))
          extra[f] = extra[f] " " k
        val[f, k] = v
      }
    }
  }
  END {
    for (i = 1; i <= n; i++) {
      f = order[i]; line = "figure=" f
      m = split("mproc cpython baseline", ks, " ")
      m += split(substr(extra[f], 2), xs, " ")
      for (j = 1; j in xs; j++) ks[3 + j] = xs[j]
      ks[++m] = "unit"
      for (j = 1; j <= m; j++) if ((f, ks[j]) in val) line = line " " ks[j] "=" val[f, ks[j]]
      print line
    }
  }' "$out"
# A benchmark that failed (bench_chaos: a hang or a wrong result) fails the run.
exit $failed

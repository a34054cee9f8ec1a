#!/bin/sh
# run.sh MPIRUN TEST MODE [OTHER]: run test_mpi_executor MODE on 3 ranks;
# pass when rank 0's tests passed, mpirun says every rank exited 0 (mode
# api), and no rank or local worker process of the test is left running.
# Mode rank0dies wants both worker ranks to notice rank 0's death and exit.
# Mode mismatch runs TEST on rank 0 and the MPI program OTHER on ranks 1-2,
# and wants rank 0's "mismatch: refused".
# Mode spawn runs TEST alone: it starts its worker ranks (MPI_Comm_spawn).
# Mode kill SIGKILLs a worker rank on purpose, so mpirun exits non-zero
# (137) whatever happens; orte_abort_on_non_zero_status 0 keeps mpirun
# from killing rank 0 when the victim dies (its default), or there would
# be nothing to observe.
set -u
mpirun=$1 test=$2 mode=$3 other=${4:-}
if [ "$mode" = mismatch ]; then
  out=$("$mpirun" --oversubscribe --quiet --mca orte_abort_on_non_zero_status 0 \
        -np 1 "$test" mismatch : -np 2 "$other" 2>&1)
  echo "$out"
  echo "$out" | grep -q '^mismatch: refused' || exit 1
  left=$(ps -eo pid=,args= | awk -v o="$other" '$2 == o')
  [ -z "$left" ] || { echo "left running: $left"; exit 1; }
  exit 0
fi
ranks_left() {
  ps -eo pid=,args= | awk -v t="$test" -v m="$mode" '$2 == t && $3 == m'
}
if [ "$mode" = rank0dies ]; then
  # Both worker ranks notice rank 0's silence and exit.  Open MPI 4.1's
  # mpirun itself then waits for ever (with orte_abort_on_non_zero_status
  # 0, after a rank killed by a signal): once no rank is left, stop it.
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  "$mpirun" --oversubscribe --quiet --mca orte_abort_on_non_zero_status 0 \
    -np 3 "$test" "$mode" >"$log" 2>&1 &
  pid=$!
  i=0
  while [ $i -lt 600 ]; do
    n=$(grep -c 'rank 0 sent nothing for 2s: presumed dead, exiting' "$log")
    [ "$n" = 2 ] && [ -z "$(ranks_left)" ] && break
    sleep 0.1
    i=$((i + 1))
  done
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  cat "$log"
  [ "$n" = 2 ] || { echo "the worker ranks did not notice"; exit 1; }
  left=$(ranks_left)
  [ -z "$left" ] || { echo "left running: $left"; exit 1; }
  exit 0
fi
if [ "$mode" = spawn ]; then
  out=$("$test" "$mode" 2>&1)
else
  out=$("$mpirun" --oversubscribe --quiet --mca orte_abort_on_non_zero_status 0 \
        -np 3 "$test" "$mode" 2>&1)
fi
rc=$?
echo "$out"
echo "$out" | grep -q '^\[  PASSED  \] [0-9]* test(s)' || exit 1
echo "$out" | grep -q 'FAILED' && exit 1
if [ "$mode" != kill ] && [ "$rc" != 0 ]; then
  echo "mpirun exited $rc"
  exit 1
fi
# The local workers are forks of the ranks: same command line.
left=$(ranks_left)
if [ -n "$left" ]; then
  echo "left running: $left"
  exit 1
fi
exit 0

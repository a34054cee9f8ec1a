#!/bin/sh
# run_kill.sh MPIRUN TEST: the "kill" mode of test_mpi_executor.  A worker
# rank is SIGKILLed on purpose, so mpirun exits non-zero (137) whatever
# happens: pass when rank 0's tests passed and no rank is left running.
# orte_abort_on_non_zero_status 0: mpirun must not kill rank 0 when the
# victim dies (its default), or there is nothing to observe.
set -u
out=$("$1" --oversubscribe --quiet --mca orte_abort_on_non_zero_status 0 \
      -np 3 "$2" kill 2>&1)
echo "$out"
echo "$out" | grep -q '^\[  PASSED  \] 1 test(s)' || exit 1
echo "$out" | grep -q 'FAILED' && exit 1
left=$(ps -eo pid=,args= | grep -F "$2 kill" | grep -v grep)
if [ -n "$left" ]; then
  echo "ranks left running: $left"
  exit 1
fi
exit 0

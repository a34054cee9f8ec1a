#!/bin/sh
# The tour of mproc (`make demo`): run every example in the tutorial's chapter
# order, each under its heading.  Usage: tour.sh EXAMPLES_BUILD_DIR
set -u
bin=$1
src=$(dirname "$0")
tests=$src/../tests/examples
failed=0
# Chapter 5.1 (pools) in the tutorial's order, not the alphabet's, before 5.2.
ch51="ch5_pool_map ch5_pool_vs_process ch5_pool_methods ch5_pool_imap \
ch5_pool_progress ch5_executor_map ch5_executor_futures ch5_pool_initializer \
ch5_pool_chunks ch5_pool_queue ch5_pool_manager_queue ch5_pool_timeout ch5_executor_errors \
ch5_pool_cpu_count"
order='' ch51_done=''
for name in $(ls "$src"/ch*.c | sort -V | sed 's|.*/||; s|\.c$||'); do
  case " $ch51 " in *" $name "*) continue ;; esac
  case $name in ch5_*)
    if [ -z "$ch51_done" ]; then
      for m in $ch51; do [ -f "$src/$m.c" ] && order="$order $m"; done
      ch51_done=1
    fi ;;
  esac
  order="$order $name"
done
for name in $order; do
  c=$src/$name.c
  title=$(sed -n '1s|^/\* *\(.*\) \*/$|\1|p' "$c")
  args=$(sed -n 's/^args //p' "$tests/$name.expect" 2>/dev/null)
  printf '\n==== %s\n' "${title:-$name}"
  # shellcheck disable=SC2086
  if ! timeout 60 "$bin/$name" $args </dev/null; then
    echo "(example $name failed)"
    failed=$((failed + 1))
  fi
done
# The MPI example (libmproc_mpi), on 3 ranks of this machine, when built
# and mpirun exists.
if [ -x "$bin/ch5_mpi_sum_squares" ] && command -v mpirun >/dev/null 2>&1; then
  printf '\n==== %s\n' "$(sed -n '1s|^/\* *\(.*\) \*/$|\1|p' \
    "$src/mpi/ch5_mpi_sum_squares.c")"
  if ! OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 60 \
       mpirun --oversubscribe --quiet -np 3 "$bin/ch5_mpi_sum_squares" </dev/null; then
    echo "(example ch5_mpi_sum_squares failed)"
    failed=$((failed + 1))
  fi
fi
printf '\n==== tour done: %s example(s) failed\n' "$failed"
[ "$failed" = 0 ]

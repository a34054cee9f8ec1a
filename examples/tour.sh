#!/bin/sh
# The tour of mproc (`make demo`): run every example in the tutorial's chapter
# order, each under its heading.  Usage: tour.sh EXAMPLES_BUILD_DIR
set -u
bin=$1
src=$(dirname "$0")
tests=$src/../tests/examples
failed=0
for c in $(ls "$src"/ch*.c | sort -V); do
  name=$(basename "$c" .c)
  title=$(sed -n '1s|^/\* *\(.*\) \*/$|\1|p' "$c")
  args=$(sed -n 's/^args //p' "$tests/$name.expect" 2>/dev/null)
  printf '\n==== %s\n' "${title:-$name}"
  # shellcheck disable=SC2086
  if ! timeout 60 "$bin/$name" $args </dev/null; then
    echo "(example $name failed)"
    failed=$((failed + 1))
  fi
done
printf '\n==== tour done: %s example(s) failed\n' "$failed"
[ "$failed" = 0 ]

#!/bin/sh
# run.sh FUZZER CORPUS SECONDS - replay every input of the checked-in corpus,
# then fuzz for SECONDS more from a scratch copy of it (the source tree is
# never written).  Fails on a crash, a leak, a timeout, an out-of-memory
# report, or a single allocation above the malloc limit: a peer's header must
# never make us allocate far more than what arrived (inputs are at most
# 64 KiB, the limit is 64 MiB).  SECONDS=0 only replays.
set -eu
fuzzer=$1 corpus=$2 seconds=${3:-10}
[ -d "$corpus" ] || { echo "run.sh: no corpus $corpus" >&2; exit 1; }
flags="-malloc_limit_mb=64 -rss_limit_mb=1024 -max_len=65536 -timeout=20"
flags="$flags -print_final_stats=1"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# shellcheck disable=SC2086
"$fuzzer" $flags -runs=0 "$corpus"
[ "$seconds" -gt 0 ] || exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir "$work/corpus"
cp -R "$corpus"/. "$work/corpus"/
status=0
# shellcheck disable=SC2086
"$fuzzer" $flags -max_total_time="$seconds" -artifact_prefix="$work/" \
  "$work/corpus" >"$work/log" 2>&1 || status=$?
tail -n 30 "$work/log"
for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* \
         "$work"/slow-unit-*; do
  [ -f "$a" ] || continue
  echo "run.sh: artifact $(basename "$a") ($(wc -c <"$a") bytes):"
  od -A d -c "$a" | head -20
  status=1
done
exit $status

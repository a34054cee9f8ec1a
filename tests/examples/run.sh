#!/bin/sh
# Smoke-test one example: run it (stdin from /dev/null), then check its exit
# status and output against an expectation file whose lines are:
#   exit N          the exit status (default 0)
#   args A B ...    arguments to pass
#   grep REGEX      a line of stdout+stderr must match (grep -E)
#   count N REGEX   exactly N lines must match
#   ! REGEX         no line may match
#   # ...           comment
set -u
bin=$1 expect=$2
[ -f "$expect" ] || { echo "no expectation file $expect"; exit 1; }
want_exit=$(sed -n 's/^exit //p' "$expect")
args=$(sed -n 's/^args //p' "$expect")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# shellcheck disable=SC2086
"$bin" $args </dev/null >"$out" 2>&1
rc=$?
cat "$out"
fail=0
[ "$rc" = "${want_exit:-0}" ] || { echo "FAIL: exit status $rc, want ${want_exit:-0}"; fail=1; }
while IFS= read -r line; do
  case "$line" in
    grep\ *) re=${line#grep }
      grep -Eq -- "$re" "$out" || { echo "FAIL: no line matches: $re"; fail=1; } ;;
    count\ *) rest=${line#count }; n=${rest%% *}; re=${rest#* }
      got=$(grep -Ec -- "$re" "$out")
      [ "$got" = "$n" ] || { echo "FAIL: $got lines match '$re', want $n"; fail=1; } ;;
    !\ *) re=${line#! }
      if grep -Eq -- "$re" "$out"; then echo "FAIL: a line matches: $re"; fail=1; fi ;;
  esac
done <"$expect"
[ $fail = 0 ] && echo "example OK"
exit $fail

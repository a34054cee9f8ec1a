#!/bin/sh
# run.sh TEST... - run each unit test program (in the current directory)
# under valgrind memcheck; `make check-valgrind` calls it in build/gcc/tests.
#
# Fails on any memory error in any process (valgrind's --error-exitcode, and
# each forked child's own log), and on a leak in the test program itself.
# Leaks are counted in the main process only: a forked child that ends with
# _exit has "lost" whatever only its parent's other threads pointed to (a
# pool worker forked by the supervisor thread sees the main thread's objects
# that way), and the test children _exit without freeing by design.
# Programs that the tests re-execute run without valgrind (no
# --trace-children).  valgrind 3.19 has no pidfd_open: the library falls
# back to pids (src/internal/child.h).
#
# Output: <test>.valgrind.log (the test's own output) and, when something
# failed, vg/<test>.<pid>.log for each process that had errors (vg/ is
# world-writable: a test child that drops privileges logs there too).
set -u
fail=
mkdir -p vg && chmod 1777 vg
for t in "$@"; do
	printf '%-20s ' "$t"
	rm -f vg/"$t".*.log
	MP_TEST_TIMEOUT_MULTIPLIER=${MP_TEST_TIMEOUT_MULTIPLIER:-20} \
	timeout 3600 valgrind --error-exitcode=1 --leak-check=full \
		--errors-for-leak-kinds=none --log-file="vg/$t.%p.log" \
		"./$t" > "$t.valgrind.log" 2>&1 &
	pid=$!
	wait $pid
	rc=$?
	# The test program's log: the one whose parent is timeout.
	main=$(grep -l "Parent PID: $pid\$" vg/"$t".*.log 2>/dev/null | head -1)
	why=
	[ $rc -eq 0 ] || why="exit status $rc"
	if [ -z "$main" ]; then
		why="$why${why:+, }no valgrind log of the test itself"
	elif grep -q "lost in loss record" "$main"; then
		why="$why${why:+, }leaks"
	fi
	for log in vg/"$t".*.log; do
		[ -e "$log" ] || continue
		if grep -q "ERROR SUMMARY: [1-9]" "$log"; then
			why="$why${why:+, }errors in $log"
		elif [ "$log" != "$main" ]; then
			rm -f "$log" # a clean child
		fi
	done
	if [ -z "$why" ]; then
		echo passed
		rm -f vg/"$t".*.log
	else
		echo "FAILED ($why): see $t.valgrind.log, $main"
		fail="$fail $t"
	fi
done
[ -z "$fail" ] || { echo "valgrind failed:$fail"; exit 1; }

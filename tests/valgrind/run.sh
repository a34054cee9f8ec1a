#!/bin/sh
# run.sh TEST... - run each unit test program (in the current directory)
# under valgrind memcheck; `make check-valgrind` calls it in build/gcc/tests.
#
# The mptest.h runner re-executes the program once per test, and valgrind
# 3.19 cannot follow that exec (--trace-children fails to load the copy:
# "mmap(0x58000000, 4096) failed in UME"), so this script lists a
# program's tests with a plain run first and then runs each test in a
# process of its own under valgrind, as the runner would (MPT_TEST=<name>:
# the group setup, that test with its teardown checks, the group teardown).
#
# Fails on any memory error in any process (valgrind's --error-exitcode, and
# each forked child's own log), on a test that fails, and on a leak in the
# test's process itself.  Leaks are counted in that process only: a forked
# child that ends with _exit has "lost" whatever only its parent's other
# threads pointed to (a pool worker forked by the supervisor thread sees the
# main thread's objects that way), and the test children _exit without
# freeing by design.  Programs that the tests execute (spawn children,
# /bin/sh, CPython) run without valgrind (no --trace-children).  valgrind
# 3.19 has no pidfd_open: the library falls back to pids
# (src/internal/child.h).
#
# Output: <test>.valgrind.log (the tests' own output) and, when something
# failed, vg/<test>.<name>.<pid>.log for each process that had errors (vg/
# is world-writable: a test child that drops privileges logs there too).
set -u
fail=
mkdir -p vg && chmod 1777 vg
export MP_TEST_TIMEOUT_MULTIPLIER=${MP_TEST_TIMEOUT_MULTIPLIER:-20}
export MPT_VALGRIND=1 # mptest.h: mpt_valgrind(), for CPU-time bounds
for t in "$@"; do
	printf '%-20s ' "$t"
	rm -f vg/"$t".*.log
	: > "$t.valgrind.log"
	names=$(MP_TEST_TIMEOUT_MULTIPLIER=1 "./$t" 2>/dev/null |
		sed -n 's/^\[ RUN      \] //p')
	why=
	[ -n "$names" ] || why="no test listed"
	for n in $names; do
		MPT_TEST=$n timeout 3600 valgrind --error-exitcode=1 \
			--leak-check=full --errors-for-leak-kinds=none \
			--log-file="vg/$t.$n.%p.log" \
			"./$t" >> "$t.valgrind.log" 2>&1 &
		pid=$!
		wait $pid
		rc=$?
		# The test's own log: the one whose parent is timeout.
		main=$(grep -l "Parent PID: $pid\$" vg/"$t.$n".*.log \
			2>/dev/null | head -1)
		[ $rc -eq 0 ] || why="$why${why:+, }$n: exit status $rc"
		if [ -z "$main" ]; then
			why="$why${why:+, }$n: no valgrind log of the test"
		elif grep -q "lost in loss record" "$main"; then
			why="$why${why:+, }$n: leaks in $main"
		fi
		for log in vg/"$t.$n".*.log; do
			[ -e "$log" ] || continue
			if grep -q "ERROR SUMMARY: [1-9]" "$log"; then
				why="$why${why:+, }$n: errors in $log"
			elif [ "$log" != "$main" ] ||
			     ! grep -q "lost in loss record" "$log"; then
				[ $rc -eq 0 ] && rm -f "$log" # clean
			fi
		done
	done
	if [ -z "$why" ]; then
		echo passed
		rm -f vg/"$t".*.log
	else
		echo "FAILED ($why): see $t.valgrind.log"
		fail="$fail $t"
	fi
done
[ -z "$fail" ] || { echo "valgrind failed:$fail"; exit 1; }

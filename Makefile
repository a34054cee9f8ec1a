# mproc - thin wrapper over CMake.  `make demo` and `make check` install what
# is missing first (Debian 12, as root).
#   make demo     build, then run the tour of the library (every example)
#   make check    every build and test: gcc -Werror, clang -Werror,
#                 ASan+UBSan (unit tests), TSan (threaded modules), examples,
#                 the fuzz harnesses' corpora replayed, install test
#   make bench    mproc vs CPython vs raw syscalls, one line per figure
#   make fuzz     every libFuzzer harness for FUZZ_SECONDS (default 60) each
#   make check-valgrind  every unit test program under valgrind memcheck
#                 (slow; not part of check)
#   make install  install to PREFIX (default /usr/local)
PREFIX ?= /usr/local
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
B := build
CMAKE_GEN = cmake -S . -DCMAKE_EXPORT_COMPILE_COMMANDS=ON
CTEST = ctest --output-on-failure --timeout 600

.PHONY: all deps build demo check check-gcc check-clang check-asan check-tsan \
        check-install check-fuzz check-valgrind fuzz fuzz-build bench install \
        clean

all: build

deps:
	@sh cmake/install-deps.sh

build: deps
	$(CMAKE_GEN) -B $(B)/gcc -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMP_WERROR=ON >/dev/null
	cmake --build $(B)/gcc -j $(JOBS)

demo: build
	@sh examples/tour.sh $(B)/gcc/examples

check: deps check-gcc check-clang check-asan check-tsan check-fuzz check-install
	@echo "make check: all passed"

check-gcc: build
	cd $(B)/gcc && $(CTEST)

check-clang:
	@if command -v clang >/dev/null 2>&1; then \
	  $(CMAKE_GEN) -B $(B)/clang -DCMAKE_C_COMPILER=clang -DMP_WERROR=ON >/dev/null && \
	  cmake --build $(B)/clang -j $(JOBS) && echo "clang -Werror build: OK"; \
	else echo "clang not installed: skipping the clang build"; fi

check-asan: deps
	$(CMAKE_GEN) -B $(B)/asan -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=Debug -DMP_WERROR=ON \
	  -DMP_SANITIZE=address,undefined >/dev/null
	cmake --build $(B)/asan -j $(JOBS)
	cd $(B)/asan && MP_TEST_TIMEOUT_MULTIPLIER=3 ASAN_OPTIONS=detect_leaks=1 \
	  UBSAN_OPTIONS=print_stacktrace=1 $(CTEST) -L unit

# ThreadSanitizer runs the test programs listed in tests/tsan.list (the
# threaded ones).
check-tsan: deps
	@if [ -n "$$(grep -v '^#' tests/tsan.list 2>/dev/null)" ]; then \
	  $(CMAKE_GEN) -B $(B)/tsan -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=Debug \
	    -DMP_WERROR=ON -DMP_SANITIZE=thread >/dev/null && \
	  cmake --build $(B)/tsan -j $(JOBS) && \
	  cd $(B)/tsan && MP_TEST_TIMEOUT_MULTIPLIER=5 TSAN_OPTIONS=halt_on_error=1 \
	    $(CTEST) -R "^($$(grep -v '^#' ../../tests/tsan.list | paste -sd'|'))$$"; \
	else echo "no threaded test programs listed in tests/tsan.list: skipping TSan"; fi

# Valgrind memcheck on each unit test program of the gcc build, one at a
# time (tests/valgrind/run.sh says what fails it); logs in build/gcc/tests.
# Slow, so not part of `make check`.
VALGRIND_TESTS ?= $(basename $(notdir $(wildcard tests/test_*.c)))
check-valgrind: build
	@command -v valgrind >/dev/null || { echo "valgrind is not installed"; exit 1; }
	cd $(B)/gcc/tests && sh $(CURDIR)/tests/valgrind/run.sh $(VALGRIND_TESTS)
	@echo "make check-valgrind: all passed"

# Fuzzing (clang + libFuzzer, ASan+UBSan): check replays every checked-in
# corpus and fuzzes each harness afresh for FUZZ_CHECK_SECONDS; `make fuzz`
# fuzzes each for FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
FUZZ_CHECK_SECONDS ?= 5
fuzz-build: deps
	$(CMAKE_GEN) -B $(B)/fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
	  -DMP_WERROR=ON -DMP_SANITIZE=address,undefined -DMP_FUZZ=ON \
	  -DMP_BUILD_TESTS=OFF -DMP_FUZZ_SECONDS=$(SECS) >/dev/null
	cmake --build $(B)/fuzz -j $(JOBS)

check-fuzz:
	$(MAKE) --no-print-directory fuzz-build SECS=$(FUZZ_CHECK_SECONDS)
	cd $(B)/fuzz && $(CTEST) -j $(JOBS) -L fuzz

fuzz:
	$(MAKE) --no-print-directory fuzz-build SECS=$(FUZZ_SECONDS)
	cd $(B)/fuzz && $(CTEST) -V -L fuzz | grep -E "^[0-9]+: (#[0-9]+ *DONE|stat::|Done|run.sh)|Test *#|tests passed"

check-install: build
	sh tests/consumer/run.sh $(B)/gcc $(B)/consumer

bench: deps
	$(CMAKE_GEN) -B $(B)/bench -DCMAKE_BUILD_TYPE=Release -DMP_BUILD_TESTS=OFF -DMP_BUILD_BENCH=ON >/dev/null
	cmake --build $(B)/bench -j $(JOBS)
	@sh bench/run.sh $(B)/bench/bench

install: build
	cmake --install $(B)/gcc --prefix $(PREFIX)

clean:
	rm -rf $(B)

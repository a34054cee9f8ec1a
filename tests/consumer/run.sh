#!/bin/sh
# Install a build into a scratch prefix, then build a consumer against the
# installed library both ways: the CMake package (shared and static) and
# pkg-config (shared and --static), and run each.
set -eu
build=$(realpath "$1") work=$2
here=$(dirname "$(realpath "$0")")
rm -rf "$work"; mkdir -p "$work"; work=$(realpath "$work")
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(ls -d "$prefix"/lib*/ | head -n 1)
ls "$libdir"libmproc.so.0 >/dev/null   # versioned SONAME
readelf -d "$libdir"libmproc.so | grep -q 'SONAME.*libmproc.so.0'
# The libraries: libmproc, and libmproc_mpi when MPI was found.
libs="${libdir}libmproc.so"
[ ! -f "${libdir}libmproc_mpi.so" ] || libs="$libs ${libdir}libmproc_mpi.so"
# Only mp_ symbols are exported.
# shellcheck disable=SC2086
bad=$(for l in $libs; do nm -D --defined-only "$l"; done | awk '{print $3}' |
	grep -v '^mp_' || true)
[ -z "$bad" ] || { echo "consumer: non-mp_ symbols exported: $bad"; exit 1; }

# Man pages: man3/<f>.3 for exactly the exported functions, every page
# formats without a groff warning, and man renders one.
mandir=$prefix/share/man
# shellcheck disable=SC2086
for l in $libs; do nm -D --defined-only "$l"; done |
	awk '$2 ~ /^[TWi]$/ {print $3}' | sort >"$work/functions"
ls "$mandir/man3" | sed -n 's/\.3$//p' | sort >"$work/pages"
missing=$(comm -23 "$work/functions" "$work/pages")
[ -z "$missing" ] || { echo "consumer: no man page for: $missing"; exit 1; }
extra=$(comm -13 "$work/functions" "$work/pages")
[ -z "$extra" ] ||
	{ echo "consumer: man pages of no exported function: $extra"; exit 1; }
[ -f "$mandir/man7/mproc.7" ] || { echo "consumer: no mproc.7"; exit 1; }
command -v man >/dev/null 2>&1 && command -v groff >/dev/null 2>&1 ||
	{ echo "consumer: man/groff missing (sh cmake/install-deps.sh)"; exit 1; }
for page in "$mandir"/man3/*.3 "$mandir"/man7/*.7; do
	groff -man -ww -z "$page" 2>"$work/groff.err"
	[ ! -s "$work/groff.err" ] ||
		{ echo "consumer: groff warns on $page:"; cat "$work/groff.err"; exit 1; }
done
for page in man3/mp_pool_map.3 man7/mproc.7; do
	name=$(basename "$page" | sed 's/\.[0-9]$//')
	LC_ALL=C MANWIDTH=80 man --warnings=w -l "$mandir/$page" \
		>"$work/$name.txt" 2>"$work/man.err"
	[ ! -s "$work/man.err" ] ||
		{ echo "consumer: man -l $page:"; cat "$work/man.err"; exit 1; }
	sed -n '/^NAME$/{n;p;q;}' "$work/$name.txt" | grep -q "^ *$name - ." ||
		{ echo "consumer: man -l $page has no NAME line"; exit 1; }
done

cmake -S "$here" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake" >/dev/null
LD_LIBRARY_PATH=$libdir "$work/cmake/consumer_shared"
ldd "$work/cmake/consumer_shared" | grep -q "$libdir"
"$work/cmake/consumer_static"
# A program linked with the static library is bound at load time (a forked
# child must not run the dynamic linker): by the CMake package and by
# pkg-config --static alike.
bound_now() {
	readelf -d "$1" | grep -Eq 'BIND_NOW|FLAGS.*NOW' ||
		{ echo "consumer: $1 is not linked -z now"; exit 1; }
}
bound_now "$work/cmake/consumer_static"

export PKG_CONFIG_PATH=${libdir}pkgconfig
cc -o "$work/pc_shared" "$here/main.c" $(pkg-config --cflags --libs mproc)
LD_LIBRARY_PATH=$libdir "$work/pc_shared"
cc -o "$work/pc_static" "$here/main.c" $(pkg-config --cflags mproc) \
   "$libdir"libmproc.a $(pkg-config --static --libs-only-l mproc | sed 's/-lmproc//') \
   $(pkg-config --static --libs-only-other mproc)
"$work/pc_static"
bound_now "$work/pc_static"
echo "consumer: installed library OK (CMake package and pkg-config, shared and static; man pages)"

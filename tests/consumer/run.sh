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
# Only mp_ symbols are exported.
bad=$(nm -D --defined-only "$libdir"libmproc.so | awk '{print $3}' | grep -v '^mp_' || true)
[ -z "$bad" ] || { echo "consumer: non-mp_ symbols exported: $bad"; exit 1; }

cmake -S "$here" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake" >/dev/null
LD_LIBRARY_PATH=$libdir "$work/cmake/consumer_shared"
ldd "$work/cmake/consumer_shared" | grep -q "$libdir"
"$work/cmake/consumer_static"

export PKG_CONFIG_PATH=${libdir}pkgconfig
cc -o "$work/pc_shared" "$here/main.c" $(pkg-config --cflags --libs mproc)
LD_LIBRARY_PATH=$libdir "$work/pc_shared"
cc -o "$work/pc_static" "$here/main.c" $(pkg-config --cflags mproc) \
   "$libdir"libmproc.a $(pkg-config --static --libs-only-l mproc | sed 's/-lmproc//')
"$work/pc_static"
echo "consumer: installed library OK (CMake package and pkg-config, shared and static)"

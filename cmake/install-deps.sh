#!/bin/sh
# Install what building and testing mproc needs on Debian 12, saying what it
# installs; does nothing when everything is there.  Needs root for apt-get.
set -eu
missing=""
need() { dpkg -s "$1" >/dev/null 2>&1 || missing="$missing $1"; }
# python3 also makes the man pages (cmake/mkman.py); man-db and groff-base
# let the install test render them.
for p in cmake make gcc clang libclang-rt-14-dev pkg-config libcmocka-dev libssl-dev \
         man-db groff-base \
         openmpi-bin libopenmpi-dev python3-mpi4py; do need "$p"; done
# openmpi-bin and libopenmpi-dev: libmproc_mpi and its tests (mpirun);
# python3-mpi4py: the bench's mpi4py.futures side (/usr/bin/python3).
# Any python3 on the PATH will do for the man pages (a python3 not from
# Debian is enough; only the bench's mpi4py wants Debian's).
command -v python3 >/dev/null 2>&1 || need python3
if [ -z "$missing" ]; then
  echo "deps: everything needed is installed"
  exit 0
fi
echo "deps: installing$missing"
if [ "$(id -u)" != 0 ]; then
  echo "deps: not root: run as root, or install:$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing

#!/bin/sh
# run_example.sh MPIRUN EXAMPLE EXPECT: tests/examples/run.sh on an MPI
# example launched on 3 ranks of this machine.
set -u
mpirun=$1 bin=$2 expect=$3
wrap=$(mktemp)
trap 'rm -f "$wrap"' EXIT
printf '#!/bin/sh\nexec "%s" --oversubscribe --quiet -np 3 "%s" "$@"\n' \
  "$mpirun" "$bin" >"$wrap"
chmod +x "$wrap"
sh "$(dirname "$0")/../examples/run.sh" "$wrap" "$expect"

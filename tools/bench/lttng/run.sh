#!/bin/sh
# Builds bench.c against liblttng-ust and runs it inside a discard-mode session; writes
# $1/result.txt (ns_per_event=...). Needs gcc, liblttng-ust-dev and lttng-tools.
set -e
out=${1:?output directory}
here=$(cd "$(dirname "$0")" && pwd)
gcc -O2 -I"$here" -o "$out/bench" "$here/bench.c" -llttng-ust -ldl
lttng-sessiond --daemonize --quiet 2>/dev/null || true
s=tlbench$$
lttng create "$s" --output="$out/trace" >/dev/null
lttng enable-channel -u ch0 --subbuf-size=4M --num-subbuf=8 --discard >/dev/null
lttng enable-event -u -c ch0 'tl_bench:rec32' >/dev/null
lttng start >/dev/null
LTTNG_UST_REGISTER_TIMEOUT=-1 "$out/bench" 5000000 > "$out/result.txt"
lttng stop >/dev/null
lttng destroy "$s" >/dev/null

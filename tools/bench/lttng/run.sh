#!/bin/sh
# LTTng-UST peer of tools/bench/src/ring-buffer.ts. Builds bench.c against liblttng-ust, then
#   1. runs it with the tracepoint disabled (no session enables it): the guard's cost;
#   2. if lttng-tools is usable, runs it inside a discard-mode session that enables
#      tl_bench:rec32 (a 4 MiB x 8 channel, as in design/PERFORMANCE.md), and checks from the
#      trace size that the events were really recorded (an app that misses the session daemon
#      runs untraced, silently).
# Writes $1/result.txt as key=value lines: disabled_* always; enabled_* or enabled_skip=REASON.
# Exits non-zero (reason on stderr) only when the program cannot be built.
# A session daemon is started only when none answers (it needs root for the global one, or
# runs per-user otherwise), and is stopped again, by its pid, when this script started it.
set -u
out=${1:?usage: run.sh OUTPUT_DIR [EVENTS]}
events=${2:-5000000}
here=$(cd "$(dirname "$0")" && pwd)
res="$out/result.txt"
: >"$res"

# liblttng-ust-dev puts its headers in the multiarch directory on Debian
# (/usr/include/x86_64-linux-gnu/lttng), which gcc searches by default: let the compiler decide.
if ! command -v gcc >/dev/null 2>&1; then echo "gcc not found" >&2; exit 3; fi
if ! gcc -O2 -I"$here" -o "$out/bench" "$here/bench.c" -llttng-ust -ldl 2>"$out/gcc.log"; then
  echo "cannot build against liblttng-ust (is liblttng-ust-dev installed?): $(head -n 1 "$out/gcc.log")" >&2
  exit 4
fi

# 1. Disabled tracepoint. A registration timeout of 0 keeps the constructor from waiting.
LTTNG_UST_REGISTER_TIMEOUT=0 "$out/bench" "$events" 5 | sed 's/^/disabled_/' >>"$res"

# 2. Enabled tracepoint.
skip() { echo "enabled_skip=$1" >>"$res"; exit 0; }
command -v lttng >/dev/null 2>&1 && command -v lttng-sessiond >/dev/null 2>&1 || skip "lttng-tools not installed"

started_pid=
session=
cleanup() {
  [ -n "$session" ] && lttng destroy "$session" >/dev/null 2>&1
  if [ -n "$started_pid" ]; then
    kill "$started_pid" 2>/dev/null
    i=0; while kill -0 "$started_pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  fi
  rm -rf "$out/trace"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! lttng list >/dev/null 2>&1; then
  lttng-sessiond --daemonize --no-kernel >/dev/null 2>&1 || skip "could not start lttng-sessiond"
  if [ "$(id -u)" = 0 ]; then pidfile=/var/run/lttng/lttng-sessiond.pid; else pidfile="${LTTNG_HOME:-$HOME}/.lttng/lttng-sessiond.pid"; fi
  started_pid=$(cat "$pidfile" 2>/dev/null)
  lttng list >/dev/null 2>&1 || skip "lttng-sessiond started but does not answer"
fi
session="tlbench$$"
lttng create "$session" --output="$out/trace" >/dev/null 2>&1 || { session=; skip "lttng create failed"; }
lttng enable-channel -u ch0 --session="$session" --subbuf-size=4M --num-subbuf=8 --discard >/dev/null 2>&1 || skip "lttng enable-channel failed"
lttng enable-event -u -c ch0 --session="$session" 'tl_bench:rec32' >/dev/null 2>&1 || skip "lttng enable-event failed"
lttng start "$session" >/dev/null 2>&1 || skip "lttng start failed"
LTTNG_UST_REGISTER_TIMEOUT=-1 "$out/bench" "$events" 5 >"$out/enabled.txt"
lttng stop "$session" >/dev/null 2>&1
discarded=$(lttng list "$session" 2>/dev/null | sed -n 's/.*Discarded events: *\([0-9]*\).*/\1/p' | awk '{s += $1} END {print s + 0}')
lttng destroy "$session" >/dev/null 2>&1
session=
n=$(sed -n 's/^events=//p' "$out/enabled.txt")
bytes=$(find "$out/trace" -type f -name 'ch0_*' ! -name '*.idx' -exec cat {} + 2>/dev/null | wc -c)
# 38 bytes per recorded event on disk (6-byte compact header + 32-byte payload).
need=$(( (n - discarded) * 38 ))
[ "$bytes" -ge "$need" ] || skip "the app ran untraced: $bytes trace bytes for $n events ($discarded discarded)"
sed 's/^/enabled_/' "$out/enabled.txt" >>"$res"
echo "enabled_discarded=$discarded" >>"$res"
echo "enabled_trace_bytes=$bytes" >>"$res"

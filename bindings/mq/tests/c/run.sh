#!/bin/sh
# run.sh - build the POSIX mq test programs and run them.
#
# Usage: sh run.sh [RUNS] [PRELOAD_LIB]
#   RUNS         kernel runs per program (default 3); their outputs must be
#                byte-identical to each other.
#   PRELOAD_LIB  if given (e.g. target/release/libshmring-mq.so), one more run
#                of every program with LD_PRELOAD=PRELOAD_LIB, whose output
#                must be byte-identical to the kernel's.
# Run as root (conformance's permission checks drop a child to uid 65534).
# Exit 0 if every run exited 0 with the expected output and no queue was
# left behind in /dev/mqueue (mounted here if it is not).
set -u
here=$(cd "$(dirname "$0")" && pwd)
runs=${1:-3}
lib=${2:-}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
CFLAGS="-O2 -Wall -Wextra -Werror -pthread"
for p in conformance prio_stress echo_server echo_client kill_survive; do
	cc $CFLAGS "$here/$p.c" -o "$out/$p" -lrt || { echo "build failed: $p"; exit 1; }
done
if ! grep -q ' /dev/mqueue mqueue ' /proc/mounts; then
	mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue
fi
status=0

# x CMD...: run CMD, with LD_PRELOAD=$pl if $pl is set
x() { if [ -n "$pl" ]; then env LD_PRELOAD="$pl" "$@"; else "$@"; fi; }

# run_one TAG PROGRAM [LIB]: stdout of the program (or of the echo pair:
# server's then client's) -> $out/PROGRAM.TAG
run_one() {
	tag=$1 prog=$2 pl=${3:-}
	if [ "$prog" = echo ]; then
		name=/mqt-echo-$$-$tag
		x "$out/echo_server" "$name" > "$out/server.$tag" & spid=$!
		x "$out/echo_client" "$name" > "$out/client.$tag"; rc=$?
		wait $spid; rc2=$?
		cat "$out/server.$tag" "$out/client.$tag" > "$out/echo.$tag"
		[ $rc -eq 0 ] && rc=$rc2
	else
		(cd "$out" && x "./$prog") > "$out/$prog.$tag"; rc=$?
	fi
	if [ $rc -ne 0 ]; then
		echo "FAIL: $prog ($tag) exited $rc"; tail -5 "$out/$prog.$tag"; status=1
	fi
}

for prog in conformance prio_stress echo kill_survive; do
	i=1
	while [ $i -le "$runs" ]; do
		run_one "kernel$i" $prog
		if [ $i -gt 1 ] && ! cmp -s "$out/$prog.kernel1" "$out/$prog.kernel$i"; then
			echo "FAIL: $prog kernel run $i differs from run 1"
			diff "$out/$prog.kernel1" "$out/$prog.kernel$i" | head -20; status=1
		fi
		i=$((i + 1))
	done
	if [ -n "$lib" ]; then
		run_one preload $prog "$lib"
		if ! cmp -s "$out/$prog.kernel1" "$out/$prog.preload"; then
			echo "FAIL: $prog differs under LD_PRELOAD=$lib"
			diff "$out/$prog.kernel1" "$out/$prog.preload" | head -40; status=1
		fi
	fi
	echo "$prog: $(wc -l < "$out/$prog.kernel1") lines, $(tail -1 "$out/$prog.kernel1")"
done
left=$(ls /dev/mqueue | grep '^mqt-' || true)
if [ -n "$left" ]; then
	echo "FAIL: queues left in /dev/mqueue: $left"; status=1
fi
[ $status -eq 0 ] && echo "all ok"
exit $status

#!/usr/bin/env bash
# Instructions per 64-byte send + receive pair, copying in and out, in one
# process: shmring SPSC and pub/sub, lossless and lossy (try_send +
# try_recv), ringfire (push + try_recv)
# and rtrb (push + pop). Each library runs twice under callgrind, N1 and
# N2 pairs; (Ir(N2) - Ir(N1)) / (N2 - N1) leaves the set-up out.
#
#   benches/insn-count.sh [N1 [N2]]      (default 100000 200000)
#
# Needs valgrind; builds `insn-pair` (release, feature `peers`) first.
set -euo pipefail
cd "$(dirname "$0")/.."

n1=${1:-100000}
n2=${2:-200000}
command -v valgrind >/dev/null || { echo "insn-count.sh: valgrind is not installed" >&2; exit 1; }

exe=$(cargo build --release -p shmring-benches --features peers --bin insn-pair \
        --message-format=json-render-diagnostics \
    | sed -n 's/.*"executable":"\([^"]*insn-pair\)".*/\1/p' | tail -n 1)
[ -x "$exe" ] || { echo "insn-count.sh: insn-pair was not built" >&2; exit 1; }

# Total instructions of one run, from callgrind's "Collected :" line.
instructions() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$exe" "$1" "$2" 2>&1 \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

printf '%-10s %14s %14s %18s\n' library "Ir($n1)" "Ir($n2)" "instructions/pair"
for library in shmring pubsub pubsub-lossy ringfire rtrb; do
    ir1=$(instructions "$library" "$n1")
    ir2=$(instructions "$library" "$n2")
    per_pair=$(awk -v a="$ir1" -v b="$ir2" -v n="$n1" -v m="$n2" 'BEGIN { printf "%.1f", (b - a) / (m - n) }')
    printf '%-10s %14s %14s %18s\n' "$library" "$ir1" "$ir2" "$per_pair"
done

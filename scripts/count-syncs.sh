#!/usr/bin/env bash
# count-syncs.sh [TREE]: synced store writes per attach in the tree TREE
# (default: this one). Builds mobility's test binary, runs
# BenchmarkAttachSyncs (500 attaches, 1 client then 50) under strace, and
# counts the sync system calls (fsync, fdatasync, msync, sync_file_range)
# between the markers the benchmark stats around its attaches, by file.
# Needs mobility/syncs_bench_test.go in TREE (bench-compare.sh copies it
# into the old tree).
#
# SYNCS_BENCH, SYNCS_OPS, SYNCS_WHAT and SYNCS_WHATS pick another
# benchmark that stats the same markers, the number of operations it makes
# between them, and what to call one and several (default: AttachSyncs,
# 500, attach, attaches); e.g.
#   SYNCS_BENCH=MigrationOverhead SYNCS_OPS=1000 SYNCS_WHAT=migration SYNCS_WHATS=migrations scripts/count-syncs.sh
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
tree="$(cd "${1:-$here}" && pwd)"
GO=${GO:-go}
bench=${SYNCS_BENCH:-AttachSyncs}
ops=${SYNCS_OPS:-500}
what=${SYNCS_WHAT:-attach}
whats=${SYNCS_WHATS:-${what}es}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tree" && $GO test -c -o "$tmp/mobility.test" ./mobility/)
(cd "$tree/mobility" && strace -f -qq -y -o "$tmp/trace" \
	-e trace=fsync,fdatasync,msync,sync_file_range,newfstatat,statx \
	"$tmp/mobility.test" -test.run '^$' -test.bench "$bench" -test.benchtime 1x) | grep -E '^Benchmark' || true
awk -v attaches="$ops" -v what="$what" -v whats="$whats" '
	/sanmob-syncs-marker\/.*-begin/ { match($0, /marker\/[a-z0-9]+/); phase = substr($0, RSTART + 7, RLENGTH - 7); n[phase] = 0; next }
	/sanmob-syncs-marker\/.*-end/ { phase = ""; next }
	phase != "" && /(fsync|fdatasync|msync|sync_file_range)\(/ {
		n[phase]++
		f = "(a mapped file: badger memtable WAL)"
		if ($0 !~ /^[0-9]+ +msync/ && match($0, /\(([0-9]+)<[^>]*>/)) { f = substr($0, RSTART + 1, RLENGTH - 2); sub(/^[0-9]+</, "", f); sub(/>$/, "", f); sub(/.*\//, "", f); sub(/^[0-9]+\./, "*.", f) }
		split($0, a, "("); sub(/^[0-9]+ +/, "", a[1])
		by[phase " " a[1] " " f]++
	}
	END {
		for (p in n) printf "%s: %d sync calls during %d %s = %.2f per %s\n", p, n[p], attaches, whats, n[p] / attaches, what
		for (k in by) printf "  %s: %d\n", k, by[k]
	}' "$tmp/trace" | sort

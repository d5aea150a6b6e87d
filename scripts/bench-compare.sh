#!/usr/bin/env bash
# make bench-compare: issue 9's before/after figures, both measured in the
# same run, runs of the two builds alternating so that each sees the same
# machine. "Before" is OLD (default bb634ca, main before the core was
# reshaped), checked out in a separate worktree OLD_TREE; "after" is this
# tree.
#
#   - daemon, large lab (sanmobbench): cold start, peak RSS, topology vs
#     /healthz; the new daemon also with a lab journal of 10,000 changes
#     (the old one has no journal); REPS runs of each, alternating;
#   - core and CSI publish (500 publishes, 50 clients, instant and 2 s
#     commits) and group commit: one -count 1 run per tree per rep;
#   - synced store writes per attach: scripts/count-syncs.sh in each tree.
#
# Nothing else may run meanwhile: one measurement at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
OLD=${OLD:-bb634ca}
OLD_TREE=${OLD_TREE:-$(cd .. && pwd)/wt-old}
REPS=${REPS:-3}
out=${BENCH_OUT:-benchout}/compare
mkdir -p "$out" bin
new=$(pwd)
if [ ! -d "$OLD_TREE" ]; then
	git worktree add --detach "$OLD_TREE" "$OLD"
fi
old=$(cd "$OLD_TREE" && pwd)
# The sync-counting benchmark uses only what both trees have; it is
# copied into the old tree, never committed there.
cp mobility/syncs_bench_test.go "$old/mobility/"
echo "# $(date -u +%FT%TZ) $(nproc) cores, $($GO version); old $(git -C "$old" log -1 --format='%h %s'); new $(git log -1 --format='%h %s')$(git diff --quiet || echo ' (+ uncommitted changes)')"

$GO build -o bin/sanmobd ./cmd/sanmobd
$GO build -o bin/sanmobbench ./cmd/sanmobbench
(cd "$old" && $GO build -o "$new/bin/sanmobd-old" ./cmd/sanmobd)

for r in $(seq 1 "$REPS"); do
	echo "## rep $r: daemon, large lab — old (bb634ca, no lab journal)"
	./bin/sanmobbench --sanmobd bin/sanmobd-old --lab-size large | tee "$out/daemon-old-$r.txt"
	echo "## rep $r: daemon, large lab — new, lab journal of 10,000 changes and of none (load rounds on the store with none)"
	./bin/sanmobbench --sanmobd bin/sanmobd --lab-size large --journal 10000,0 | tee "$out/daemon-new-$r.txt"
	for side in old new; do
		tree=${!side}
		echo "## rep $r: $side: publish (core), publish (CSI), group commit"
		(cd "$tree" &&
			$GO test -run '^$' -bench 'Publish' -benchtime 1x -count 1 ./mobility/ &&
			$GO test -run '^$' -bench 'ControllerPublish' -benchtime 1x -count 1 ./server/csi/ &&
			$GO test -run '^$' -bench 'GroupCommit' -benchtime 1x -count 1 -timeout 10m ./fabric/) | tee "$out/go-$side-$r.txt"
	done
done
for side in old new; do
	echo "## synced store writes per attach: $side"
	./scripts/count-syncs.sh "${!side}" | tee "$out/syncs-$side.txt"
done

echo "## summary"
for side in old new; do
	for f in "$out"/daemon-$side-*.txt; do
		grep -E '^cold start median|ratio of medians' "$f" | sed "s|^|$side $(basename "$f"): |"
	done
done
for side in old new; do
	cat "$out"/go-$side-*.txt | grep -E '^Benchmark' | sed "s|^|$side: |"
done

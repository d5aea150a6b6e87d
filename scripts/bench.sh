#!/usr/bin/env bash
# make bench: every figure recorded in BENCHMARKS.md, each beside the
# comparison it is judged against, measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
out=${BENCH_OUT:-benchout}
mkdir -p "$out"
echo "# $(date -u +%FT%TZ) $(nproc) cores, $($GO version)"

echo "## store: synced writes, one per transaction vs batched"
$GO test -run '^$' -bench 'PutSynced|BatchSynced|List' -benchtime 2s -count 3 ./store/ | tee "$out/store.txt"

echo "## wwn: parse"
$GO test -run '^$' -bench . -benchmem ./fabric/wwn/ | tee "$out/wwn.txt"

echo "## zoning: group commit vs one commit per request (200 concurrent requests, 2 s commits), and planning on 10,000 zones"
$GO test -run '^$' -bench 'GroupCommit' -benchtime 1x -count 3 -timeout 10m ./fabric/ | tee "$out/zoning.txt"
$GO test -run '^$' -bench 'Plan10k' -benchmem -count 3 ./fabric/ | tee -a "$out/zoning.txt"
$GO test -run '^$' -bench 'CommitLarge|VportLarge' -benchtime 30x ./lab/ | tee -a "$out/zoning.txt"

echo "## attach: 500 publishes from 50 clients, zone commits instant and 2 s"
$GO test -run '^$' -bench 'ControllerPublish' -benchtime 1x -count 3 ./server/csi/ | tee "$out/publish.txt"
$GO test -run '^$' -bench 'Publish' -benchtime 1x -count 3 ./mobility/ | tee -a "$out/publish.txt"
$GO test -run '^$' -bench 'ArrayLarge' -count 1 ./lab/ | tee -a "$out/publish.txt"

echo "## zoning claims: 500 claims from 50 callers, 2 s commits, beside one zone per commit (issue 15)"
$GO test -run '^$' -bench 'Claims' -benchtime 1x -count 3 -timeout 20m ./mobility/ | tee "$out/claims.txt"

echo "## attach: synced store writes per attach (500 attaches, 1 and 50 clients, under strace); before/after: make bench-compare"
./scripts/count-syncs.sh | tee "$out/syncs.txt"

echo "## cold start parts: indexing a large fabric's zone members"
$GO test -run '^$' -bench WWNIndex -benchmem -count 3 ./devices/ | tee "$out/index.txt"

echo "## lab: building the 100,000-VM world"
$GO test -run '^$' -bench NewLarge -benchmem -count 3 ./lab/ | tee "$out/lab.txt"

echo "## topology: core walk + JSON (small lab), and the handler vs /healthz in process (large lab)"
$GO test -run '^$' -bench Topology -benchmem -count 3 ./inventory/ | tee "$out/mobility.txt"
SANMOB_BENCH_LAB=large $GO test -run '^$' -bench Topology -benchmem -count 3 -timeout 20m ./inventory/ | tee -a "$out/mobility.txt"
SANMOB_BENCH_LAB=large $GO test -run '^$' -bench Handlers -benchmem -count 3 -timeout 20m ./server/ | tee "$out/server.txt"

echo "## issue 10: evacuations against the link's lower bound, sanmob's policy and a KubeVirt-like fixed one (5 at once, 64 MiB/s each) in the same run; virtual time"
$GO test -run '^$' -bench 'Evacuation' -benchtime 1x -count 3 -v -timeout 60m ./mobility/ | tee "$out/evacuation.txt"

echo "## issue 10: planner estimates against single cross-site moves (virtual time)"
$GO test -run '^$' -bench 'PlannerEstimate' -benchtime 1x -count 3 -v -timeout 30m ./mobility/ | tee "$out/estimate.txt"

echo "## issue 10: executor overhead, 1,000 same-fabric moves with instant devices (wall time), and synced store writes per move (under strace)"
$GO test -run '^$' -bench 'MigrationOverhead' -benchtime 1x -count 3 ./mobility/ | tee "$out/overhead.txt"
SYNCS_BENCH=MigrationOverhead SYNCS_OPS=1000 SYNCS_WHAT=migration SYNCS_WHATS=migrations ./scripts/count-syncs.sh | tee -a "$out/overhead.txt"

echo "## daemon: cold start on the large lab with a lab journal of 10,000 changes and of none (alternating), and topology vs /healthz over loopback (store with none)"
$GO build -o bin/sanmobd ./cmd/sanmobd
$GO build -o bin/sanmobbench ./cmd/sanmobbench
./bin/sanmobbench --sanmobd bin/sanmobd --lab-size large --journal 10000,0 | tee "$out/daemon.txt"

echo "## issue 11: thin forecasts — sanmob (windowed least squares with R² gating, Holt, by backtest) beside predict_linear over 6 h, same traces, same run"
$GO test -run '^$' -bench 'ForecastAccuracy' -benchtime 1x -count 3 -timeout 30m ./thin/ | tee "$out/thin.txt"

echo "## issue 11: alert delivery, Set to webhook receiver (group wait 1 s and 0) and changes lost across a receiver outage"
$GO test -run '^$' -bench 'Delivery' -benchtime 20x -count 3 ./alert/ | tee "$out/alerts.txt"

echo "## issue 12: queue depth — static 32/64, ESXi adaptive, Linux ramp, PARDA and sanmob on the same simulated scenarios (virtual time)"
$GO test -run '^$' -bench QueueDepthComparison -benchtime 1x -count 3 -v -timeout 30m ./qdepth/ | tee "$out/qdepth.txt"
echo "## issue 12: queue depths at scale — one host's batch and one period with 10,000 hosts reporting (large lab, wall time)"
$GO test -run '^$' -bench 'QueueDepthsLarge' -benchtime 3x -timeout 30m ./mobility/ | tee -a "$out/qdepth.txt"
$GO test -run '^$' -bench 'QueueDepthsLarge/ingest' -benchtime 200x -timeout 30m ./mobility/ | tee -a "$out/qdepth.txt"

// Package qdepth owns sanmob's I/O queue depths (issue 12): how many
// commands each host may keep outstanding to each LUN so that hosts sharing
// array ports and back ends neither starve each other nor set off QUEUE
// FULL storms, and so that throughput follows the VMs' shares.
//
// The plan (docs/architecture.md, floor 4): telemetry per host and LUN; a
// controller that is a pure function of (state, samples, shares, now) and
// returns a window per (host, LUN) in PARDA's form with β from the shares,
// a latency threshold per pool, a multiplicative cut on QUEUE FULL/BUSY, a
// budget per target port and preferred paths by measured load; and the
// discrete-event simulator that its tests and the benchmark run against.
//
// Built so far (stdlib only, no other sanmob package):
//
//   - sim.go: the simulator. N hosts with closed-loop VMs, each keeping a
//     number of I/Os outstanding to one LUN; a FIFO issue queue per
//     (host, LUN) limited by its window; target ports with a queue limit
//     that answer QUEUE FULL (the host gets the reply after QFullDelay and
//     reissues the command after RetryDelay); one shared back end of
//     Servers parallel servers with a fixed-plus-exponential service time
//     (DiskProfile ≈ 3,300 IOPS, FlashProfile ≈ 200,000 IOPS). Time is
//     virtual and all randomness comes from Config.Seed, so a run is a
//     pure function of its Config. At the end of every control period the
//     Controller is given the period's Observations (window, shares,
//     completions, mean device latency, QUEUE FULL count, in flight and
//     waiting per (host, LUN)) and returns the next windows; the Result
//     keeps per-VM completions and every VM-observed latency per period,
//     with helpers for IOPS, QUEUE FULL counts and mean/p99/p99.9.
//   - baseline.go: the controllers to beat (DOMAIN.md "Queue depth and
//     congestion"): Static (host defaults 32, 64), ESXiAdaptive (halve
//     after QFullSampleSize QUEUE FULLs, +1 after QFullThreshold good
//     completions; applied per period, so it needs a short period to
//     approximate ESXi's per-command reaction) and PARDA (latency EWMA and
//     the window update with α 0.002, γ 0.8 from the paper; the 2 s period
//     is the simulator's Config.Period).
//
// Model limits, stated so nobody reads more into the figures: the back end
// is one FIFO with no read/write mix, cache or I/O size; latency is flat up
// to Servers outstanding and grows linearly after (Little's law); a port
// counts accepted commands until completion and costs nothing in
// transport; a VM's I/O goes to one LUN; no BUSY status, only QUEUE FULL.
//
// Not built yet: the Linux-style ramp baseline, PARDA's scripted events
// (a VM idles and returns, an uncontrolled host joins, VMs stop one by one,
// a VM migrates in with its shares), sanmob's controller with port budgets
// and path balancing, telemetry validation, shares that follow a migrated
// VM, the REST/SSE output, QueueCongestion alerts, gauges and the
// benchmark table.
package qdepth

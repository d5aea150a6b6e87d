// Package qdepth owns sanmob's I/O queue depths (issue 12): how many
// commands each host may keep outstanding to each LUN so that hosts sharing
// array ports and back ends neither starve each other nor set off QUEUE
// FULL storms, and so that throughput follows the VMs' shares.
//
// The package is stdlib only and imports no other sanmob package. It holds
// three things: the controller the daemon calls (control.go), the
// controllers it is measured against (baseline.go), and the discrete-event
// simulator that the tests and BenchmarkQueueDepthComparison run them all
// on (sim.go, adapter.go). The figures are in BENCHMARKS.md, "Issue 12 —
// queue depth".
//
// # The model (sim.go)
//
// N hosts with closed-loop VMs: each VM keeps Outstanding I/Os to one LUN
// and issues a new one as each completes. Each (host, LUN) has a FIFO issue
// queue limited by its window (the queue depth). A LUN is reached through
// one target port (LUN.Port) or several (LUN.Ports), round robin over the
// queue's paths, which a Policy that is a Router may pick. A port with a
// QueueLimit answers QUEUE FULL when that many accepted commands are not yet
// complete; the host gets the reply after QFullDelay and reissues the
// command after RetryDelay. One shared back end serves Servers commands at
// once with a fixed-plus-exponential service time: DiskProfile ≈ 3,300
// IOPS (16 × 4.85 ms), FlashProfile ≈ 200,000 IOPS (64 × 320 µs).
//
// Scripted Events at virtual times: a VM's outstanding count changes (it
// idles, it returns), an Absent VM Arrives (a VM migrating in with its
// shares, or every VM of a host that joins), a VM Leaves (VMs stop one by
// one). A host with a FixedWindow is uncontrolled: its queues keep that
// window and the Policy never sees them. At the end of every period the
// Policy gets the period's Observations per governed (host, LUN) — window,
// shares, completions (also per port), mean device latency, QUEUE FULL
// count, in flight and waiting — and returns the next windows; a Ticker
// policy is also called every Tick within the period (ESXi and Linux react
// per command). Time is virtual and all randomness comes from Config.Seed,
// so a run is a pure function of its Config: the figures are deterministic.
//
// Each VM's I/Os are recorded twice per period: the device latency
// (dispatch to the array → completion, what a host measures and what PARDA
// and sanmob control) and the VM-observed latency (issue → completion, host
// queueing and QUEUE FULL retries included). The controlled quantity has
// to be the device latency: a closed-loop VM that keeps more outstanding
// than its window always waits in the host queue, and by Little's law its
// observed latency is its outstanding count over its throughput whatever
// the windows — throttling moves its wait from the array to the host, it
// cannot remove it (the benchmark's "VM mean" column is the same for every
// policy that keeps the back end busy).
//
// # The controllers
//
//   - Static (baseline.go): every queue at Depth — the host defaults, 32
//     (ESXi DSNRO) and 64 (QLogic); Static{Depth: 100000} is the
//     benchmark's uncontrolled reference (no window ever binds).
//   - ESXiAdaptive: halve after QFullSampleSize QUEUE FULLs, +1 after
//     QFullThreshold good completions, up to Max; with Every it reacts every
//     10 ms inside a 2 s period, as near per command as the model needs.
//   - LinuxRamp: −1 after more than 10 QUEUE FULLs since the last change,
//     +1 per 120 s without one (queue_ramp_up_period).
//   - PARDA (Gulati, Ahmad, Waldspurger, FAST '09; the basis of SIOC):
//     latency EWMA and w ← (1−γ)w + γ((𝓛/L)w + β), α 0.002, γ 0.8, β per
//     share; its equilibrium is windows ∝ β at L̄ = 𝓛 + Σβ/C.
//   - Controller (control.go), sanmob's: Step(State, Input) is a pure
//     function of the previous state and the period's samples, shares and
//     ports; Adapt runs it as a simulator Policy and Router.
//
// # How sanmob's controller improves on PARDA
//
//   - Latency at the threshold, not above it. Per pool it applies Little's
//     law to its own queues: at the throughput x they deliver, a total of
//     x·𝓛 outstanding holds the pool's mean latency at 𝓛. PARDA's +β in
//     every step settles at 𝓛 + Σβ/C instead (41 ms for 𝓛 = 30 ms with six
//     disk hosts in the benchmark).
//   - Exact share ratios. The pool total is split among its queues in
//     proportion to their shares in one global step (water-filling: a
//     queue whose VMs keep fewer commands outstanding than its share is
//     capped at 1.5× what they keep and the rest goes to the others), where
//     PARDA's per-host windows only approach ∝ β. Integer depths are
//     dithered (error diffusion, rounded per pool so the pool's total
//     depth is its total window rounded): a window of 1.75 is served as
//     2, 2, 2, 1, …, so a 500-share host keeps its 1.75 where a rounded or
//     floored window would give it 2 or 4. Min defaults to 1 for that.
//   - Reconvergence in a few periods. The total comes from the measured
//     throughput, not from a small β added each period, so after an event
//     the windows are at their new split in one γ-step (γ 0.8). An idle
//     queue is charged what its VMs keep outstanding, not its window, so
//     its unused room goes to the others at once while its window is kept
//     (a calm pool is never squeezed below min(window, Default)) for when
//     it returns. Beside load sanmob does not govern, x·𝓛 alone would close
//     only the governed fraction of the gap each period; the controller
//     learns the back end's capacity C = ΔN/ΔL from two periods in which
//     its own outstanding N moved (a concurrent change of the other load
//     can only make the pair disagree in sign, skipped, or make C look
//     smaller, clamped to x) and cuts to N − (L − 𝓛)·C.
//   - Safety nets kept from PARDA and the host stacks: a queue over the
//     threshold never grows (its window is capped at w·𝓛/L, at most halved
//     by latency alone in a period); a period with QUEUE FULL or BUSY cuts
//     the window by QFullCut (½); windows are clamped to [Min, Max]; the
//     Congested flag has hysteresis (RaiseAfter hot periods, ClearAfter
//     calm ones).
//   - Port budgets: the windows of all hosts through a target port, each
//     queue counted evenly over its preferred ports, never add up past
//     PortHeadroom (0.9) of the port's queue limit; over it, every queue on
//     the port is scaled down. So the sum of windows cannot set off QUEUE
//     FULL, whereas PARDA and ESXi/Linux only react after it.
//   - Path balancing: each queue's PreferredTargetPorts are chosen by
//     projected use (window over queue limit), single-path queues first,
//     then the largest, each to the least-used of its ports, a second port
//     joining when within a tenth; so a multi-path LUN steers around a port
//     a single-path LUN must use, where round robin (ESXi's default) or
//     "first available" pile onto it.
//
// # Thresholds
//
// DiskThreshold is 30 ms, SIOC's default. FlashThreshold is 1.5 ms, chosen
// from the flash profile: unloaded, a command takes 0.32 ms, and the back
// end saturates at 64 commands in service; at 𝓛 the pool's total is
// X·𝓛 = 200,000/s × 1.5 ms = 300 commands, far above 64, so throughput
// stays at the uncontrolled level with room for the dither and for a
// period's noise. The service time's own tail (p99 0.16 + 0.16·ln 100 ≈
// 0.90 ms, 0.58 ms above its mean) sits on top of the queueing delay, so a
// mean held at 𝓛 has a p99 of about 𝓛 + 0.6 ms: 1.5 ms keeps it under
// 1.5 × 𝓛 (2.07 ms measured), 1 ms would not (≈ 1.6 ×), and 2 ms would
// double the latency for no throughput. DefaultThreshold("flash") is
// FlashThreshold, anything else DiskThreshold.
//
// # Model limits
//
// Stated so that nobody reads more into the figures: the back end is one
// FIFO with no read/write mix, cache or I/O size; latency is flat up to
// Servers outstanding and grows linearly after (Little's law), so a disk
// p99 under 1.5 × 30 ms is out of reach for any window policy (the service
// time alone has a p99 ≈ 20.6 ms, 15.8 ms above its mean: a mean of 30 ms
// has a p99 ≥ ≈ 46 ms); a port counts accepted commands until completion
// and costs nothing in transport; a freed port slot goes first to the
// queue whose command completed (it has the next one ready), so under a
// QUEUE FULL storm hosts holding slots keep them and others starve — real
// arrays are unfair under QUEUE FULL too, but the degree here is the
// model's; a VM's I/O goes to one LUN; no BUSY status, only QUEUE FULL;
// every queue of the simulation is on one pool. The controller acts only
// at period ends, so a sudden load (a host joining) runs a whole period
// unthrottled.
//
// Outside this package (issue 12's other parts, in the daemon): telemetry
// collection and validation, shares that follow a migrated VM from the
// inventory, the REST/SSE output, QueueCongestion alerts and gauges.
package qdepth

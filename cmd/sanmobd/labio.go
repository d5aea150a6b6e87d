package main

import (
	"context"
	"hash/fnv"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/internal/clockwait"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/mobility"
	"k8s.io/utils/clock"
)

// labIO stands in for the hosts' I/O agents on the lab, so that the daemon
// on `make run` shows live queue-depth recommendations: twice a control
// period it works out, from a fluid model of the lab's pools, what every
// host would measure per (LUN, target port) at the depths sanmob
// recommends, and sends it through the same ingest as POST
// /v1/telemetry/io.
//
// The model: each VM keeps a fixed number of I/Os outstanding (drawn from
// its id, 8–48), spread over its volumes; a host keeps at most its queue
// depth of them at the array, the rest wait in the host. A pool serves
// like Servers parallel servers of a fixed service time (flash: 64 × 0.32
// ms ≈ 200,000 IOPS; disk: 16 × 4.85 ms ≈ 3,300 IOPS): by Little's law its
// latency is its outstanding over its throughput. A target port past its
// queue limit answers QUEUE FULL. One host, the unmanaged one (the first
// on a disk pool), ignores the recommendations and keeps a depth of 64, as
// a host without an agent would, and its VMs run a batch job (4× the
// I/O): the pool it shares stays congested and QueueCongestion fires for
// the hosts that do follow sanmob, whose depths go to the minimum.
// It is a lab model, not a measurement: real figures come from hosts.
type labIO struct {
	mob       *mobility.Service
	clk       clock.Clock
	period    time.Duration
	unmanaged string
	log       logrus.FieldLogger
	tick      int
}

type labPoolModel struct {
	servers float64
	service time.Duration
}

func labPoolOf(media string) labPoolModel {
	if media == "flash" {
		return labPoolModel{servers: 64, service: 320 * time.Microsecond}
	}
	return labPoolModel{servers: 16, service: 16 * time.Second / 3300}
}

// labDemand is what a VM keeps outstanding: 8 to 48, by its id.
func labDemand(vm string) float64 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(vm))
	return float64(8 + 8*(h.Sum32()%6))
}

func (l *labIO) run(ctx context.Context) error {
	l.unmanaged = l.pickUnmanaged()
	if l.unmanaged != "" {
		l.log.WithField("host", l.unmanaged).Info("lab: hosts send I/O telemetry; this one ignores sanmob's queue depths (depth 64), as a host without an agent would, and runs 4× the I/O")
	}
	for clockwait.Sleep(ctx, l.clk, l.period/2) == nil {
		l.send(ctx)
	}
	return nil
}

// pickUnmanaged is the first host (by id) whose VMs use a disk pool: the
// pool it shares stays congested whatever the others do, which is what
// the tour should show.
func (l *labIO) pickUnmanaged() string {
	media := map[string]string{}
	for _, p := range l.mob.Pools("") {
		media[p.ID] = p.Media
	}
	for _, h := range l.mob.Hosts(inventory.HostFilter{}) {
		for _, vm := range l.mob.VMs(inventory.VMFilter{Host: h.ID}) {
			for _, r := range vm.Volumes {
				if v, err := l.mob.Volume(r.ID); err == nil && media[v.Pool] == "disk" {
					return h.ID
				}
			}
		}
	}
	return ""
}

type labQueue struct {
	host, volume, pool string
	demand, window     float64
	ports              []string
}

func (l *labIO) send(ctx context.Context) {
	l.tick++
	now := l.clk.Now()
	media := map[string]string{}
	for _, p := range l.mob.Pools("") {
		media[p.ID] = p.Media
	}
	limit := map[string]float64{}
	for _, a := range l.mob.Arrays() {
		for _, p := range a.TargetPorts {
			limit[p.WWPN.String()] = float64(p.QueueLimit)
		}
	}
	var queues []*labQueue
	for _, h := range l.mob.Hosts(inventory.HostFilter{}) {
		recs, err := l.mob.HostQueueDepths(ctx, h.ID)
		if err != nil {
			continue
		}
		demand := map[string]float64{}
		for _, vm := range l.mob.VMs(inventory.VMFilter{Host: h.ID}) {
			for _, r := range vm.Volumes {
				d := labDemand(vm.ID) / float64(len(vm.Volumes))
				if h.ID == l.unmanaged {
					d *= 4 // a batch job: the noisy neighbour
				}
				demand[r.ID] += d
			}
		}
		for _, r := range recs.Items {
			if demand[r.Volume] == 0 || len(r.PreferredTargetPorts) == 0 {
				continue
			}
			w := float64(r.QueueDepth)
			if h.ID == l.unmanaged {
				w = 64
			}
			queues = append(queues, &labQueue{host: h.ID, volume: r.Volume, pool: r.Pool, demand: demand[r.Volume], window: w, ports: r.PreferredTargetPorts})
		}
	}
	atArray := func(q *labQueue) float64 { return math.Min(q.demand, q.window) }
	poolOut, portOut := map[string]float64{}, map[string]float64{}
	for _, q := range queues {
		poolOut[q.pool] += atArray(q)
		for _, p := range q.ports {
			portOut[p] += atArray(q) / float64(len(q.ports))
		}
	}
	latency := map[string]float64{} // seconds
	for p, out := range poolOut {
		m := labPoolOf(media[p])
		x := math.Min(out/m.service.Seconds(), m.servers/m.service.Seconds())
		jitter := 1 + 0.03*math.Sin(float64(l.tick)+float64(len(p)))
		latency[p] = math.Max(m.service.Seconds(), out/x) * jitter
	}
	byHost := map[string][]mobility.TelemetrySample{}
	for _, q := range queues {
		lat := latency[q.pool]
		k := float64(len(q.ports))
		for _, p := range q.ports {
			qfull := 0
			if lim := limit[p]; lim > 0 && portOut[p] > lim {
				qfull = int(math.Ceil((portOut[p] - lim) * atArray(q) / portOut[p]))
			}
			byHost[q.host] = append(byHost[q.host], mobility.TelemetrySample{Host: q.host, Volume: q.volume, TargetPortWWPN: p, At: now,
				IOPS: atArray(q) / lat / k, LatencyMs: lat * 1e3, Outstanding: q.demand / k, QFull: qfull})
		}
	}
	hosts := make([]string, 0, len(byHost))
	for h := range byHost {
		hosts = append(hosts, h)
	}
	slices.SortFunc(hosts, strings.Compare)
	for _, h := range hosts {
		if _, err := l.mob.IngestTelemetry(ctx, "", byHost[h]); err != nil {
			l.log.WithError(err).WithField("host", h).Debug("lab: telemetry refused")
		}
	}
}

package qdepth

import (
	"fmt"
	"time"
)

// Adapt runs sanmob's Controller as a simulator Policy: every (host, LUN)
// of the simulation becomes a Queue on one pool (the simulator has one back
// end) with the given threshold, reached through its LUN's port.
type Adapt struct {
	Controller Controller
	Threshold  time.Duration
	Config     Config // the simulation, for names, ports and queue limits

	state State
}

// Control turns the period's observations into telemetry and steps the
// controller.
func (a *Adapt) Control(p Period) map[Key]int {
	secs := (p.End - p.Start).Seconds()
	in := Input{Now: time.Unix(0, 0).Add(p.End)}
	for _, port := range a.Config.Ports {
		in.Ports = append(in.Ports, PortLimit{WWPN: port.Name, QueueLimit: port.QueueLimit})
	}
	keys := map[QueueKey]Key{}
	for _, o := range p.Obs {
		k := QueueKey{Host: a.name(o.Host), Volume: fmt.Sprintf("lun%d", o.LUN)}
		keys[k] = o.Key
		port := a.Config.Ports[a.Config.LUNs[o.LUN].Port].Name
		in.Queues = append(in.Queues, Queue{Host: k.Host, Volume: k.Volume, Pool: "backend",
			Threshold: a.Threshold, Ports: []string{port}, Shares: o.Shares,
			Sample: &Sample{IOPS: float64(o.Completions) / secs, Latency: o.MeanLatency,
				Outstanding: float64(o.InFlight + o.Waiting), QFull: o.QFull}})
	}
	var ds []Decision
	a.state, ds = a.Controller.Step(a.state, in)
	w := make(map[Key]int, len(ds))
	for _, d := range ds {
		w[keys[QueueKey{d.Host, d.Volume}]] = d.QueueDepth
	}
	return w
}

func (a *Adapt) name(h int) string {
	if h < len(a.Config.Hosts) && a.Config.Hosts[h].Name != "" {
		return a.Config.Hosts[h].Name
	}
	return fmt.Sprintf("host%d", h)
}

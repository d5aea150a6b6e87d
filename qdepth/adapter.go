package qdepth

import (
	"fmt"
	"slices"
	"time"
)

// Adapt runs sanmob's Controller as a simulator Policy: every (host, LUN)
// of the simulation becomes a Queue on one pool (the simulator has one back
// end) with the given threshold, reached through its LUN's ports. It is a
// Router: each queue sends round robin over the Decision's
// PreferredTargetPorts.
type Adapt struct {
	Controller Controller
	Threshold  time.Duration
	Config     Config // the simulation, for names, ports and queue limits

	state State
	paths map[Key][]int
}

// Control turns the period's observations into telemetry and steps the
// controller.
func (a *Adapt) Control(p Period) map[Key]int {
	secs := (p.End - p.Start).Seconds()
	in := Input{Now: time.Unix(0, 0).Add(p.End)}
	portIndex := map[string]int{}
	for i, port := range a.Config.Ports {
		in.Ports = append(in.Ports, PortLimit{WWPN: a.portName(i), QueueLimit: port.QueueLimit})
		portIndex[a.portName(i)] = i
	}
	keys := map[QueueKey]Key{}
	for _, o := range p.Obs {
		k := QueueKey{Host: a.name(o.Host), Volume: fmt.Sprintf("lun%d", o.LUN)}
		keys[k] = o.Key
		var ports []string
		for _, i := range a.Config.LUNs[o.LUN].ports() {
			ports = append(ports, a.portName(i))
		}
		var portIOPS map[string]float64
		for i, n := range o.PortCompletions {
			if portIOPS == nil {
				portIOPS = map[string]float64{}
			}
			portIOPS[a.portName(i)] = float64(n) / secs
		}
		in.Queues = append(in.Queues, Queue{Host: k.Host, Volume: k.Volume, Pool: "backend",
			Threshold: a.Threshold, Ports: ports, Shares: o.Shares,
			Sample: &Sample{IOPS: float64(o.Completions) / secs, Latency: o.MeanLatency,
				Outstanding: float64(o.InFlight + o.Waiting), QFull: o.QFull, PortIOPS: portIOPS}})
	}
	var ds []Decision
	a.state, ds = a.Controller.Step(a.state, in)
	w := make(map[Key]int, len(ds))
	a.paths = make(map[Key][]int, len(ds))
	for _, d := range ds {
		k := keys[QueueKey{d.Host, d.Volume}]
		w[k] = d.QueueDepth
		for _, name := range d.PreferredTargetPorts {
			if i, ok := portIndex[name]; ok && !slices.Contains(a.paths[k], i) {
				a.paths[k] = append(a.paths[k], i)
			}
		}
	}
	return w
}

// Paths is the last step's preferred target ports per queue.
func (a *Adapt) Paths() map[Key][]int { return a.paths }

func (a *Adapt) name(h int) string {
	if h < len(a.Config.Hosts) && a.Config.Hosts[h].Name != "" {
		return a.Config.Hosts[h].Name
	}
	return fmt.Sprintf("host%d", h)
}

func (a *Adapt) portName(i int) string {
	if a.Config.Ports[i].Name != "" {
		return a.Config.Ports[i].Name
	}
	return fmt.Sprintf("port%d", i)
}

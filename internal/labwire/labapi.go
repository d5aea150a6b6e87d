package labwire

import (
	"errors"
	"fmt"
	"time"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/lab"
	"github.com/sanmob/sanmob/mobility"
	"github.com/sanmob/sanmob/server"
)

// API gives the server the lab's own truth and controls (the /v1/lab routes).
func API(w *lab.World) server.Lab { return labAPI{w} }

type labAPI struct{ w *lab.World }

var _ server.Lab = labAPI{}

func (a labAPI) sw(id string) (*lab.Switch, error) {
	s, ok := a.w.Switch(id)
	if !ok {
		return nil, fmt.Errorf("lab fabric %q: %w", id, server.ErrNotFound)
	}
	return s, nil
}

func (a labAPI) ZoneDB(id string) (fabric.ZoneDB, error) {
	s, err := a.sw(id)
	if err != nil {
		return fabric.ZoneDB{}, err
	}
	return s.TruthZoneDB(), nil
}

func (a labAPI) Logins(id string) ([]fabric.Login, error) {
	s, err := a.sw(id)
	if err != nil {
		return nil, err
	}
	return s.TruthLogins(), nil
}

func (a labAPI) DeleteZone(id, zone string) error {
	s, err := a.sw(id)
	if err != nil {
		return err
	}
	if err := s.DeleteZone(zone); err != nil {
		if errors.Is(err, fabric.ErrNotFound) {
			return fmt.Errorf("zone %q on lab fabric %q: %w", zone, id, server.ErrNotFound)
		}
		return err
	}
	return nil
}

// PlugPort parses the port's names and cables it in. The lab's refusals
// carry the fabric contract's sentinels, which the server maps (unknown
// fabric 404, zero WWN 400, a WWPN in use 409, no free port 507); any
// other failure is the switch's, a fault's: transient 503, final 502.
func (a labAPI) PlugPort(id string, p server.LabPort) (fabric.Login, error) {
	wwpn, err := wwn.Parse(p.WWPN)
	if err != nil {
		return fabric.Login{}, &server.FieldErr{Field: "wwpn", Reason: err.Error()}
	}
	wwnn, err := wwn.Parse(p.WWNN)
	if err != nil {
		return fabric.Login{}, &server.FieldErr{Field: "wwnn", Reason: err.Error()}
	}
	l, err := a.w.PlugPort(id, wwpn, wwnn, p.Target)
	return l, switchErr(err)
}

// UnplugPort parses the WWPN and pulls the port: not logged in there 404,
// a port the lab's build cabled or a vport 409.
func (a labAPI) UnplugPort(id, p string) error {
	wwpn, err := wwn.Parse(p)
	if err != nil {
		return &server.FieldErr{Field: "wwpn", Reason: err.Error()}
	}
	return switchErr(a.w.UnplugPort(id, wwpn))
}

// switchErr marks an error of the lab's switch as the device's, so that a
// failure the server has no sentinel for (an injected fault) is answered
// with its class — 503 or 502 and the switch's words — not as sanmob's
// own 500. The sentinels in its chain still decide first.
func switchErr(err error) error { return mobility.MarkDevice("fabric", err) }

func (a labAPI) Mappings(id string) ([]array.Mapping, error) {
	arr, ok := a.w.Array(id)
	if !ok {
		return nil, fmt.Errorf("lab array %q: %w", id, server.ErrNotFound)
	}
	return arr.TruthMappings(), nil
}

func (a labAPI) Clock() (time.Time, float64) {
	c := a.w.Clock()
	return c.Now(), c.Speed()
}

func (a labAPI) InjectFault(f server.LabFault) (server.LabFault, error) {
	lf := lab.Fault{Target: f.Target, Op: f.Op, Count: f.Count, Rate: f.Rate, Kind: f.Kind,
		Latency: time.Duration(f.LatencyMs * float64(time.Millisecond))}
	if f.LatencyMs < 0 {
		return f, fmt.Errorf("%w: latencyMs must not be negative", server.ErrInvalid)
	}
	if err := a.w.InjectFault(lf); err != nil {
		if errors.Is(err, lab.ErrInvalidFault) {
			return f, fmt.Errorf("%w: %w", server.ErrInvalid, err)
		}
		return f, err
	}
	// Echo the kind the lab keeps: a latency fault fails nothing and has
	// none; a failing fault's defaults to unavailable.
	if lf.Latency > 0 {
		f.Kind = ""
	} else if f.Kind == "" {
		f.Kind = lab.KindUnavailable
	}
	return f, nil
}

func (a labAPI) Faults() []server.LabFault {
	var out []server.LabFault
	for _, f := range a.w.Faults() {
		// The lab keeps a failing fault's kind, and none for a latency fault.
		out = append(out, server.LabFault{Target: f.Target, Op: f.Op, Count: f.Count, Rate: f.Rate, Kind: f.Kind,
			LatencyMs: float64(f.Latency) / float64(time.Millisecond)})
	}
	return out
}

func (a labAPI) ClearFaults() { a.w.ClearFaults() }

package labwire

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/lab"
	"github.com/sanmob/sanmob/mobility"
	"github.com/sanmob/sanmob/server"
)

// TestInjectFaultKind: the kind the lab API echoes, on injection and in
// the list, is the one the lab keeps: none for a latency fault, which fails
// nothing; unavailable by default for a failing one.
func TestInjectFaultKind(t *testing.T) {
	tests := []struct {
		name  string
		fault server.LabFault
		kind  string
	}{
		{"count, default kind", server.LabFault{Target: "east-a", Op: "read", Count: 1}, "unavailable"},
		{"rate, final", server.LabFault{Target: "east-arr1", Op: "mask", Rate: 0.5, Kind: "final"}, "final"},
		{"applied-timeout", server.LabFault{Target: "east-a", Op: "commit", Count: 2, Kind: "applied-timeout"}, "applied-timeout"},
		{"latency", server.LabFault{Target: "link:east-west", Op: "replicate", Count: 3, LatencyMs: 250}, ""},
		{"latency, kind unavailable given", server.LabFault{Target: "east-a", Op: "read", Rate: 1, LatencyMs: 10, Kind: "unavailable"}, ""},
	}
	api := API(newWorld(t))
	var want []server.LabFault
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := api.InjectFault(tt.fault)
			if err != nil {
				t.Fatalf("InjectFault(%+v): %v", tt.fault, err)
			}
			if got.Kind != tt.kind {
				t.Errorf("InjectFault(%+v) echoed kind %q, want %q", tt.fault, got.Kind, tt.kind)
			}
			f := tt.fault
			f.Kind = tt.kind
			want = append(want, f)
		})
	}
	if got := api.Faults(); !slices.Equal(got, want) {
		t.Fatalf("Faults()\n %+v\nwant\n %+v", got, want)
	}
}

func TestInjectFaultRefused(t *testing.T) {
	tests := []struct {
		name  string
		fault server.LabFault
		want  []string
		inLab bool // refused by the lab, not by the API
	}{
		{"count and rate", server.LabFault{Target: "east-a", Op: "read", Count: 2, Rate: 0.5}, []string{"count 2", "rate 0.5"}, true},
		{"kind with a latency", server.LabFault{Target: "east-a", Op: "read", Count: 1, LatencyMs: 5, Kind: "final"}, []string{"latency"}, true},
		{"negative latency", server.LabFault{Target: "east-a", Op: "read", Count: 1, LatencyMs: -5}, []string{"latencyMs"}, false},
	}
	api := API(newWorld(t))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := api.InjectFault(tt.fault)
			if !errors.Is(err, server.ErrInvalid) || errors.Is(err, lab.ErrInvalidFault) != tt.inLab {
				t.Fatalf("InjectFault(%+v) = %v, want server.ErrInvalid (lab.ErrInvalidFault: %t)", tt.fault, err, tt.inLab)
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("InjectFault(%+v) = %v, want it to name %q", tt.fault, err, s)
				}
			}
		})
	}
	if f := api.Faults(); len(f) != 0 {
		t.Fatalf("refused faults were kept: %+v", f)
	}
}

// TestPlugPort: the lab API parses the port's names and hands the lab's
// refusals on with the sentinels the server maps to statuses; a fault's
// failure is marked as the switch's, so that it is a 502 or a 503 and
// not sanmob's own 500.
func TestPlugPort(t *testing.T) {
	w := newWorld(t)
	api := API(w)
	port := server.LabPort{WWPN: "50:0a:09:81:00:00:00:01", WWNN: "500a098000000000", Target: true}
	l, err := api.PlugPort("east-a", port)
	if err != nil {
		t.Fatalf("PlugPort: %v", err)
	}
	if l.WWPN.String() != port.WWPN || l.WWNN.String() != "50:0a:09:80:00:00:00:00" || l.Kind != fabric.Target || l.NPIV {
		t.Fatalf("PlugPort answered %+v", l)
	}
	logins, err := api.Logins("east-a")
	if err != nil || !slices.Contains(logins, l) {
		t.Fatalf("Logins (%v) does not show the plugged port %+v", err, l)
	}

	refused := []struct {
		name   string
		fabric string
		port   server.LabPort
		want   error
		field  string
	}{
		{"bad wwpn", "east-a", server.LabPort{WWPN: "50:0a:09", WWNN: port.WWNN}, server.ErrInvalid, "wwpn"},
		{"no wwpn", "east-a", server.LabPort{WWNN: port.WWNN}, server.ErrInvalid, "wwpn"},
		{"bad wwnn", "east-a", server.LabPort{WWPN: "50:0a:09:81:00:00:00:02", WWNN: "nope"}, server.ErrInvalid, "wwnn"},
		{"zero wwpn", "east-a", server.LabPort{WWPN: "00:00:00:00:00:00:00:00", WWNN: port.WWNN}, fabric.ErrInvalid, ""},
		{"unknown fabric", "north-a", server.LabPort{WWPN: "50:0a:09:81:00:00:00:02", WWNN: port.WWNN}, fabric.ErrNotFound, ""},
		{"plugged already", "west-b", port, fabric.ErrConflict, ""},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := api.PlugPort(tt.fabric, tt.port)
			if !errors.Is(err, tt.want) {
				t.Fatalf("PlugPort(%s, %+v) = %v, want %v", tt.fabric, tt.port, err, tt.want)
			}
			var fe *server.FieldErr
			if errors.As(err, &fe) != (tt.field != "") || (fe != nil && fe.Field != tt.field) {
				t.Fatalf("PlugPort(%s, %+v) = %v, want field %q named", tt.fabric, tt.port, err, tt.field)
			}
		})
	}

	faults := []struct {
		kind      string
		transient bool
	}{{lab.KindUnavailable, true}, {lab.KindFinal, false}}
	for _, f := range faults {
		t.Run("fault "+f.kind, func(t *testing.T) {
			if _, err := api.InjectFault(server.LabFault{Target: "east-b", Op: lab.OpLogin, Count: 1, Kind: f.kind}); err != nil {
				t.Fatal(err)
			}
			_, err := api.PlugPort("east-b", server.LabPort{WWPN: "50:0a:09:81:00:00:00:03", WWNN: port.WWNN})
			if !errors.Is(err, lab.ErrInjected) || !mobility.FromDevice(err) || fabric.IsTransient(err) != f.transient {
				t.Fatalf("PlugPort under a %s fault = %v; want the switch's error, transient %v", f.kind, err, f.transient)
			}
		})
	}

	for _, tt := range []struct {
		name, fabric, wwpn string
		want               error
	}{
		{"bad wwpn", "east-a", "xyz", server.ErrInvalid},
		{"unknown fabric", "north-a", port.WWPN, fabric.ErrNotFound},
		{"not there", "east-b", port.WWPN, fabric.ErrNotFound},
		{"a port of the build", "east-a", arrayPortOf(t, api, "east-a"), fabric.ErrConflict},
	} {
		t.Run("unplug "+tt.name, func(t *testing.T) {
			if err := api.UnplugPort(tt.fabric, tt.wwpn); !errors.Is(err, tt.want) {
				t.Fatalf("UnplugPort(%s, %s) = %v, want %v", tt.fabric, tt.wwpn, err, tt.want)
			}
		})
	}
	if err := api.UnplugPort("east-a", "500a098100000001"); err != nil {
		t.Fatalf("UnplugPort: %v", err)
	}
	if logins, _ := api.Logins("east-a"); slices.ContainsFunc(logins, func(x fabric.Login) bool { return x.WWPN == l.WWPN }) {
		t.Fatal("the pulled port is still logged in")
	}
}

func arrayPortOf(t *testing.T, api server.Lab, id string) string {
	t.Helper()
	logins, err := api.Logins(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range logins {
		if l.Kind == fabric.Target {
			return l.WWPN.String()
		}
	}
	t.Fatalf("no target port on %s", id)
	return ""
}

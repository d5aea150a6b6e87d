package labwire

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/lab"
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

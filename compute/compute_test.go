package compute_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/errclass"
)

// TestClassify: every sentinel carries its class through a %w chain.
func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want errclass.Class
	}{
		{"not found", compute.ErrNotFound, errclass.NotFound},
		{"unavailable", compute.ErrUnavailable, errclass.Transient},
		{"invalid", compute.ErrInvalid, errclass.Final},
		{"conflict", compute.ErrConflict, errclass.Final},
		{"deadline", context.DeadlineExceeded, errclass.Transient},
		{"unclassified", errors.New("vCenter: permission denied on host esx01"), errclass.Final},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := fmt.Errorf("list vms: %w", tc.err)
			if got := compute.Classify(err); got != tc.want {
				t.Errorf("Classify(%v) = %v, want %v", err, got, tc.want)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("errors.Is lost the sentinel")
			}
		})
	}
}

func TestMoveModeValid(t *testing.T) {
	tests := []struct {
		name string
		mode compute.MoveMode
		want bool
	}{
		{"live", compute.MoveLive, true},
		{"cold", compute.MoveCold, true},
		{"empty", "", false},
		{"other", "Live", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.mode.Valid(); got != tc.want {
				t.Errorf("%q.Valid() = %v, want %v", tc.mode, got, tc.want)
			}
		})
	}
}

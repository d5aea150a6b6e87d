package fabric_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/fabric"
)

// TestClassify: every sentinel keeps its message and errors.Is identity and
// carries its class through a %w chain with the device's words around it.
func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want errclass.Class
	}{
		{"not found", fabric.ErrNotFound, errclass.NotFound},
		{"invalid", fabric.ErrInvalid, errclass.Final},
		{"conflict", fabric.ErrConflict, errclass.Final},
		{"full", fabric.ErrFull, errclass.Final},
		{"unavailable", fabric.ErrUnavailable, errclass.Transient},
		{"deadline", context.DeadlineExceeded, errclass.Transient},
		{"unclassified", errors.New("controller B rejected the request: code 0x2a"), errclass.Final},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := fmt.Errorf("commit: controller A says %q: %w", "busy, try later", tc.err)
			if got := fabric.Classify(err); got != tc.want {
				t.Errorf("Classify(%v) = %v, want %v", err, got, tc.want)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("errors.Is lost the sentinel")
			}
			if got, want := fabric.IsTransient(err), tc.want == errclass.Transient; got != want {
				t.Errorf("IsTransient = %v, want %v", got, want)
			}
		})
	}
	if fabric.IsTransient(nil) {
		t.Error("IsTransient(nil)")
	}
	if got := fabric.ErrFull.Error(); got != "fabric: no room" {
		t.Errorf("message %q changed", got)
	}
}

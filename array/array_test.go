package array_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/errclass"
)

// TestClassify: every sentinel keeps its message and errors.Is identity and
// carries its class through a %w chain with the device's words around it.
func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want errclass.Class
	}{
		{"not found", array.ErrNotFound, errclass.NotFound},
		{"invalid", array.ErrInvalid, errclass.Final},
		{"conflict", array.ErrConflict, errclass.Final},
		{"no capacity", array.ErrNoCapacity, errclass.Final},
		{"unavailable", array.ErrUnavailable, errclass.Transient},
		{"deadline", context.DeadlineExceeded, errclass.Transient},
		{"unclassified", errors.New("controller B rejected the request: code 0x2a"), errclass.Final},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := fmt.Errorf("map vol1 to hg1: controller A says %q: %w", "busy, try later", tc.err)
			if got := array.Classify(err); got != tc.want {
				t.Errorf("Classify(%v) = %v, want %v", err, got, tc.want)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("errors.Is lost the sentinel")
			}
			if got, want := array.IsTransient(err), tc.want == errclass.Transient; got != want {
				t.Errorf("IsTransient = %v, want %v", got, want)
			}
		})
	}
	if array.IsTransient(nil) {
		t.Error("IsTransient(nil)")
	}
	if got := array.ErrNoCapacity.Error(); got != "array: no capacity" {
		t.Errorf("message %q changed", got)
	}
}

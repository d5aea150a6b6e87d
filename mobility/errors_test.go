package mobility

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/fabric"
)

// TestDeviceErr: what the core returns for a driver's error keeps the
// device's words, its sentinel and its class, and says which device it was.
func TestDeviceErr(t *testing.T) {
	words := "controller A: host group hg1 is locked by a management session"
	tests := []struct {
		name     string
		kind     string
		err      error
		class    errclass.Class
		sentinel error
	}{
		{"final, unclassified", "array", errors.New(words), errclass.Final, nil},
		{"array conflict", "array", fmt.Errorf("%s: %w", words, array.ErrConflict), errclass.Final, array.ErrConflict},
		{"array busy", "array", fmt.Errorf("%s: %w", words, array.ErrUnavailable), errclass.Transient, ErrUnavailable},
		{"array gone", "array", fmt.Errorf("%s: %w", words, array.ErrNotFound), errclass.NotFound, array.ErrNotFound},
		{"device call timed out", "array", fmt.Errorf("%s: %w", words, context.DeadlineExceeded), errclass.Transient, ErrUnavailable},
		{"fabric busy", "fabric", fmt.Errorf("%s: %w", words, fabric.ErrUnavailable), errclass.Transient, fabric.ErrUnavailable},
		{"fabric full", "fabric", fmt.Errorf("%s: %w", words, fabric.ErrFull), errclass.Final, fabric.ErrFull},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := deviceErr(tc.kind, "dev1", tc.err)
			if !strings.Contains(got.Error(), words) || !strings.HasPrefix(got.Error(), tc.kind+" dev1: ") {
				t.Errorf("message %q lost the device or its words", got)
			}
			if c := errclass.Of(got); c != tc.class {
				t.Errorf("class %v, want %v", c, tc.class)
			}
			if tc.sentinel != nil && !errors.Is(got, tc.sentinel) {
				t.Errorf("%v does not wrap %v", got, tc.sentinel)
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("%v lost the driver's error", got)
			}
			if tc.class != errclass.Transient && !FromDevice(got) {
				t.Errorf("FromDevice(%v) = false", got)
			}
		})
	}
	if FromDevice(fmt.Errorf("volume %q: %w", "v", ErrConflict)) || FromDevice(errors.New("a bug")) {
		t.Error("the core's own errors are not a device's")
	}
	if MarkDevice("array", nil) != nil {
		t.Error("MarkDevice(nil) != nil")
	}
}

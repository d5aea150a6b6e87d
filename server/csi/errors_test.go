package csi

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/mobility"
)

func TestToStatus(t *testing.T) {
	const (
		create   = csi.Controller_CreateVolume_FullMethodName
		del      = csi.Controller_DeleteVolume_FullMethodName
		publish  = csi.Controller_ControllerPublishVolume_FullMethodName
		snapshot = csi.Controller_CreateSnapshot_FullMethodName
		delSnap  = csi.Controller_DeleteSnapshot_FullMethodName
		capacity = csi.Controller_GetCapacity_FullMethodName
		expand   = csi.Controller_ControllerExpandVolume_FullMethodName
	)
	wrap := func(err error) error { return fmt.Errorf("volume %q: %w", "v1", err) }
	tests := []struct {
		name   string
		method string
		err    error
		want   codes.Code
	}{
		{"nil", create, nil, codes.OK},
		{"a status passes as it is", create, status.Error(codes.Aborted, "busy"), codes.Aborted},
		{"field error", create, &inventory.FieldError{Field: "name", Reason: "too long"}, codes.InvalidArgument},
		{"invalid", expand, wrap(mobility.ErrInvalid), codes.InvalidArgument},
		{"array invalid", create, wrap(array.ErrInvalid), codes.InvalidArgument},
		{"no capacity", create, wrap(array.ErrNoCapacity), codes.ResourceExhausted},
		{"no capacity to grow", expand, wrap(array.ErrNoCapacity), codes.ResourceExhausted},
		{"volume not found", publish, wrap(mobility.ErrNotFound), codes.NotFound},
		{"volume not found to grow", expand, wrap(mobility.ErrNotFound), codes.NotFound},
		{"source volume not found", snapshot, wrap(mobility.ErrNotFound), codes.NotFound},
		{"placement not found", create, wrap(mobility.ErrNotFound), codes.InvalidArgument},
		{"capacity placement not found", capacity, wrap(mobility.ErrNotFound), codes.InvalidArgument},
		{"array not found", publish, wrap(array.ErrNotFound), codes.NotFound},
		{"name taken", create, wrap(mobility.ErrConflict), codes.AlreadyExists},
		{"snapshot name taken", snapshot, wrap(mobility.ErrConflict), codes.AlreadyExists},
		{"attached: cannot delete", del, wrap(mobility.ErrConflict), codes.FailedPrecondition},
		{"published elsewhere", publish, wrap(mobility.ErrConflict), codes.FailedPrecondition},
		{"snapshot in use", delSnap, wrap(mobility.ErrConflict), codes.FailedPrecondition},
		{"array conflict", del, wrap(array.ErrConflict), codes.FailedPrecondition},
		{"unavailable", publish, wrap(mobility.ErrUnavailable), codes.Unavailable},
		{"not ready", create, wrap(mobility.ErrNotReady), codes.Unavailable},
		{"array unavailable", snapshot, wrap(array.ErrUnavailable), codes.Unavailable},
		{"deadline", publish, wrap(context.DeadlineExceeded), codes.DeadlineExceeded},
		{"canceled", publish, wrap(context.Canceled), codes.Canceled},
		{"anything else", create, errors.New("mobility: not implemented yet"), codes.Internal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := toStatus(tc.method, tc.err)
			if c := status.Code(got); c != tc.want {
				t.Fatalf("toStatus(%s, %v) = %v, want %v", tc.method, tc.err, c, tc.want)
			}
			// The message is the error's own: it names what was wrong.
			if msg, want := status.Convert(got).Message(), status.Convert(tc.err).Message(); msg != want {
				t.Errorf("message %q, want %q", msg, want)
			}
		})
	}
}

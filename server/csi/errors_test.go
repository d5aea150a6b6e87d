package csi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/errclass"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/mobility"
	"github.com/sanmob/sanmob/saga"
)

// deviceWords is what a device said; a status that stems from a device must
// show it.
const deviceWords = "controller A: LUN masking refused: host group hg7 is locked by session 42"

// runErr is what Wait returns for a run that ended without doing its work.
func runErr(state saga.State, err error) error {
	return &saga.RunError{ID: "r1", Kind: "attachment", Key: "v1/n1", State: state, Step: "zone", Class: errclass.Of(err), Err: err}
}

// TestToStatus maps every sentinel of every contract, the core's, context
// errors and a device's own error through the CSI edge.
func TestToStatus(t *testing.T) {
	const (
		create    = csi.Controller_CreateVolume_FullMethodName
		del       = csi.Controller_DeleteVolume_FullMethodName
		publish   = csi.Controller_ControllerPublishVolume_FullMethodName
		snapshot  = csi.Controller_CreateSnapshot_FullMethodName
		delSnap   = csi.Controller_DeleteSnapshot_FullMethodName
		capacity  = csi.Controller_GetCapacity_FullMethodName
		expand    = csi.Controller_ControllerExpandVolume_FullMethodName
		unpublish = csi.Controller_ControllerUnpublishVolume_FullMethodName
	)
	wrap := func(err error) error { return fmt.Errorf("volume %q: %w", "v1", err) }
	// What the core returns for a device's error: the device's words around
	// the contract's sentinel, marked as the device's (mobility's deviceErr).
	dev := func(kind string, sentinel error) error {
		err := errors.New(deviceWords)
		if sentinel != nil {
			err = fmt.Errorf("%s: %w", deviceWords, sentinel)
		}
		return fmt.Errorf("%s dev1: %w", kind, mobility.MarkDevice(kind, err))
	}
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
		{"saga busy", publish, wrap(saga.ErrBusy), codes.Unavailable},
		{"saga stopped", publish, wrap(saga.ErrStopped), codes.Unavailable},
		{"run undone: device refused", publish, runErr(saga.StateUndone, dev("fabric", nil)), codes.FailedPrecondition},
		{"run undone: device busy", publish, runErr(saga.StateUndone, dev("array", array.ErrUnavailable)), codes.Unavailable},
		{"run failed: undo refused", unpublish, runErr(saga.StateFailed, dev("array", nil)), codes.FailedPrecondition},
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
		{"deadline: a device call timed out", publish, wrap(context.DeadlineExceeded), codes.Unavailable},
		{"canceled", publish, wrap(context.Canceled), codes.Canceled},
		{"anything else", create, errors.New("mobility: not implemented yet"), codes.Internal},
		{"device not read", publish, &devices.DeviceError{Kind: "array", ID: "a1", Err: errors.New(deviceWords)}, codes.Unavailable},

		{"fabric not found", publish, dev("fabric", fabric.ErrNotFound), codes.NotFound},
		{"fabric invalid", publish, dev("fabric", fabric.ErrInvalid), codes.InvalidArgument},
		{"fabric conflict", publish, dev("fabric", fabric.ErrConflict), codes.FailedPrecondition},
		{"fabric unavailable", publish, dev("fabric", fabric.ErrUnavailable), codes.Unavailable},
		{"fabric unavailable, unmarked", publish, fmt.Errorf("%s: %w", deviceWords, fabric.ErrUnavailable), codes.Unavailable},
		{"fabric full", publish, dev("fabric", fabric.ErrFull), codes.ResourceExhausted},
		{"fabric final", publish, dev("fabric", nil), codes.FailedPrecondition},
		{"fabric final on unpublish", unpublish, dev("fabric", nil), codes.FailedPrecondition},
		{"array not found", del, dev("array", array.ErrNotFound), codes.NotFound},
		{"array invalid", expand, dev("array", array.ErrInvalid), codes.InvalidArgument},
		{"array conflict on create", create, dev("array", array.ErrConflict), codes.AlreadyExists},
		{"array conflict on publish", publish, dev("array", array.ErrConflict), codes.FailedPrecondition},
		{"array no capacity", create, dev("array", array.ErrNoCapacity), codes.ResourceExhausted},
		{"array unavailable", publish, dev("array", array.ErrUnavailable), codes.Unavailable},
		{"array call timed out", publish, dev("array", context.DeadlineExceeded), codes.Unavailable},
		{"array final on create", create, dev("array", nil), codes.FailedPrecondition},
		{"array final on publish", publish, dev("array", nil), codes.FailedPrecondition},
		{"array final on snapshot", snapshot, dev("array", nil), codes.FailedPrecondition},
		{"compute not found", publish, dev("host", compute.ErrNotFound), codes.NotFound},
		{"compute unavailable", publish, dev("host", compute.ErrUnavailable), codes.Unavailable},
		{"compute final", publish, dev("host", nil), codes.FailedPrecondition},
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
			if tc.err != nil && strings.Contains(tc.err.Error(), deviceWords) && !strings.Contains(status.Convert(got).Message(), deviceWords) {
				t.Errorf("message %q lost the device's words", status.Convert(got).Message())
			}
		})
	}
}

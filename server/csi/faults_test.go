package csi

import (
	"context"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sanmob/sanmob/lab"
)

// TestPublishDeviceFaults: a busy array or fabric is UNAVAILABLE (the CO
// retries, and knows the publish may still be in progress); a device that
// definitely refuses is FAILED_PRECONDITION with the device's words; once the
// fault is gone the publish succeeds.
func TestPublishDeviceFaults(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	v := h.mustCreate(t, "faulty", 1<<30)
	arr := v.GetVolumeContext()[ctxArray]
	const node = "east-esx01"
	tests := []struct {
		name  string
		fault lab.Fault
		code  codes.Code
		words string
	}{
		{"array busy", lab.Fault{Target: arr, Op: lab.OpMask, Rate: 1}, codes.Unavailable, "mask on " + arr},
		{"array refuses", lab.Fault{Target: arr, Op: lab.OpMask, Count: 1, Kind: lab.KindFinal}, codes.FailedPrecondition, "mask on " + arr + " failed for good"},
		{"fabric busy", lab.Fault{Target: "east-a", Op: lab.OpZone, Rate: 1}, codes.Unavailable, "zone on east-a"},
		{"fabric refuses", lab.Fault{Target: "east-a", Op: lab.OpZone, Count: 1, Kind: lab.KindFinal}, codes.FailedPrecondition, "on east-a failed for good"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := h.lab.InjectFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			req := &csi.ControllerPublishVolumeRequest{VolumeId: v.GetVolumeId(), NodeId: node, VolumeCapability: mountCap(snw)}
			_, err := h.ctl.ControllerPublishVolume(ctx, req)
			if status.Code(err) != tc.code || !strings.Contains(status.Convert(err).Message(), tc.words) {
				t.Fatalf("publish with %+v: %v, want %v with %q", tc.fault, err, tc.code, tc.words)
			}
			h.lab.ClearFaults()
			if _, err := h.ctl.ControllerPublishVolume(ctx, req); err != nil {
				t.Fatalf("publish once the fault is gone: %v", err)
			}
			if _, err := h.ctl.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: v.GetVolumeId(), NodeId: node}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

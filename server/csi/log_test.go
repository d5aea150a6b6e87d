package csi

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func quietLogger() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// TestLogNeverHoldsSecrets: every call that carries secrets, successful or
// refused, at debug level (requests and responses logged): no secret value
// reaches the log, and each call's line has method, duration and code.
func TestLogNeverHoldsSecrets(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	const secret = "s3cr3t-Pa55w0rd-value"
	sec := map[string]string{"password": secret, "token-" + secret: secret}
	caps := []*csi.VolumeCapability{mountCap(snw)}

	v, err := h.ctl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "logged", VolumeCapabilities: caps, Secrets: sec})
	if err != nil {
		t.Fatal(err)
	}
	id := v.GetVolume().GetVolumeId()
	_, _ = h.ctl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "", Secrets: sec}) // refused
	_, _ = h.ctl.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: "east-esx01", VolumeCapability: caps[0], Secrets: sec})
	_, _ = h.ctl.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: "nowhere", VolumeCapability: caps[0], Secrets: sec})
	_, _ = h.ctl.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: "east-esx01", Secrets: sec})
	_, _ = h.ctl.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: id, VolumeCapabilities: caps, Secrets: sec})
	_, _ = h.ctl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: id, CapacityRange: &csi.CapacityRange{RequiredBytes: 2 << 30}, Secrets: sec})
	sn, _ := h.ctl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "logged-snap", SourceVolumeId: id, Secrets: sec})
	_, _ = h.ctl.ListSnapshots(ctx, &csi.ListSnapshotsRequest{Secrets: sec})
	_, _ = h.ctl.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: sn.GetSnapshot().GetSnapshotId(), Secrets: sec})
	_, _ = h.ctl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id, Secrets: sec})

	log := h.log.String()
	if strings.Contains(log, secret) {
		t.Fatalf("a secret is in the log:\n%s", log)
	}
	if !strings.Contains(log, "***stripped***") {
		t.Errorf("no request was logged with its secrets stripped:\n%s", log)
	}
	calls := 0
	for line := range strings.Lines(log) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		if rec["msg"] == "csi response" {
			if rec["method"] == nil || rec["response"] == nil {
				t.Errorf("response line without method or response: %s", line)
			}
			continue
		}
		calls++
		for _, f := range []string{"method", "duration", "code", "request"} {
			if rec[f] == nil || rec[f] == "" {
				t.Errorf("log line without %s: %s", f, line)
			}
		}
	}
	if calls != 11 {
		t.Errorf("%d calls logged, want 11:\n%s", calls, log)
	}
}

// TestPanicIsInternal: a handler that panics answers INTERNAL and the
// daemon lives on.
func TestPanicIsInternal(t *testing.T) {
	srv, err := New(Config{Mobility: coreOf(t), Log: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	info := &grpc.UnaryServerInfo{FullMethod: csi.Controller_CreateVolume_FullMethodName}
	_, err = srv.intercept(context.Background(), &csi.CreateVolumeRequest{}, info, func(context.Context, any) (any, error) {
		panic("boom")
	})
	if status.Code(err) != codes.Internal {
		t.Errorf("panicking handler: %v, want INTERNAL", err)
	}
}

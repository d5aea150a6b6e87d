package csi

import (
	"context"
	"errors"
	"strconv"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/mobility"
)

// CreateSnapshot snapshots a volume on its array. Idempotent by name; a
// name that is another volume's snapshot is ALREADY_EXISTS.
func (s *Server) CreateSnapshot(ctx context.Context, req *csi.CreateSnapshotRequest) (*csi.CreateSnapshotResponse, error) {
	name, src := req.GetName(), req.GetSourceVolumeId()
	if err := required("name", name); err != nil {
		return nil, err
	}
	if err := required("source_volume_id", src); err != nil {
		return nil, err
	}
	if err := checkSnapshotParams(req.GetParameters()); err != nil {
		return nil, err
	}
	release, err := s.busy.acquire("snapshot name " + strconv.Quote(name))
	if err != nil {
		return nil, err
	}
	defer release()
	sn, err := s.mob.CreateSnapshot(ctx, src, mobility.SnapshotSpec{Name: name})
	if err != nil {
		return nil, err
	}
	var size int64
	if v, err := s.mob.Volume(sn.Volume); err == nil {
		size = v.SizeBytes
	}
	return &csi.CreateSnapshotResponse{Snapshot: csiSnapshot(sn, size)}, nil
}

// csiSnapshot is a core snapshot as CSI shows it. Its size is the source
// volume's: what a volume restored from it would need. Array snapshots
// are taken at once: ready to use.
func csiSnapshot(sn inventory.SnapshotView, size int64) *csi.Snapshot {
	return &csi.Snapshot{
		SnapshotId:     sn.ID,
		SourceVolumeId: sn.Volume,
		SizeBytes:      size,
		CreationTime:   timestamppb.New(sn.CreatedAt),
		ReadyToUse:     true,
	}
}

// DeleteSnapshot deletes a snapshot; one already gone is success.
func (s *Server) DeleteSnapshot(ctx context.Context, req *csi.DeleteSnapshotRequest) (*csi.DeleteSnapshotResponse, error) {
	id := req.GetSnapshotId()
	if err := required("snapshot_id", id); err != nil {
		return nil, err
	}
	release, err := s.busy.acquire("snapshot " + strconv.Quote(id))
	if err != nil {
		return nil, err
	}
	defer release()
	if err := s.mob.DeleteSnapshot(ctx, id); err != nil && !errors.Is(err, mobility.ErrNotFound) {
		return nil, err
	}
	return &csi.DeleteSnapshotResponse{}, nil
}

// ListSnapshots pages through snapshots in id order: all of them, one by
// id, or those of one source volume. An id or volume that does not exist
// lists nothing.
func (s *Server) ListSnapshots(ctx context.Context, req *csi.ListSnapshotsRequest) (*csi.ListSnapshotsResponse, error) {
	var snaps []inventory.SnapshotView
	switch id, vol := req.GetSnapshotId(), req.GetSourceVolumeId(); {
	case id != "":
		sn, err := s.mob.Snapshot(id)
		switch {
		case errors.Is(err, mobility.ErrNotFound):
		case err != nil:
			return nil, err
		case vol == "" || sn.Volume == vol:
			snaps = append(snaps, sn)
		}
	default:
		for _, sn := range s.mob.Snapshots(vol) {
			if vol == "" || sn.Volume == vol {
				snaps = append(snaps, sn)
			}
		}
	}
	page, next, err := paginate(tokenSnapshots, snaps, func(sn inventory.SnapshotView) string { return sn.ID }, req.GetStartingToken(), req.GetMaxEntries())
	if err != nil {
		return nil, err
	}
	sizes := map[string]int64{}
	for _, v := range s.mob.Volumes(inventory.VolumeFilter{}) {
		sizes[v.ID] = v.SizeBytes
	}
	out := &csi.ListSnapshotsResponse{NextToken: next, Entries: make([]*csi.ListSnapshotsResponse_Entry, 0, len(page))}
	for _, sn := range page {
		out.Entries = append(out.Entries, &csi.ListSnapshotsResponse_Entry{Snapshot: csiSnapshot(sn, sizes[sn.Volume])})
	}
	return out, nil
}

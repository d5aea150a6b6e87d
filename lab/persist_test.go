package lab

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// crash drops the world as a kill -9 would: the clock is not saved, the
// files are closed (as the kernel closes a dead process's) and nothing else
// is written.
func (w *World) crash() {
	if w.j == nil {
		return
	}
	w.closeOnce.Do(func() {
		close(w.stopClock)
		<-w.clockDone
		_ = w.clockFile.close()
		_ = w.j.close()
	})
}

// persistConfig is a small world kept in dir. Speed 1 keeps every test well
// inside one virtual hour, so thin usage accrues alike in both worlds.
func persistConfig(dir string) Config {
	return Config{Seed: 7, Epoch: testEpoch, Speed: 1, CommitLatency: time.Nanosecond, Dir: dir}
}

func openWorld(t *testing.T, cfg Config) *World {
	t.Helper()
	w, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// changes are the device changes each restart test makes, one kind each.
func persistChanges() []struct {
	name   string
	change func(t *testing.T, w *World)
} {
	ctx := context.Background()
	commit := func(t *testing.T, w *World, id string, put []fabric.Zone, del []string) {
		t.Helper()
		s, _ := w.Switch(id)
		_, err := s.Commit(ctx, fabric.Txn{Checksum: s.TruthZoneDB().Checksum, Put: put, Delete: del})
		must(t, err)
	}
	firstSIST := func(w *World, id string) fabric.Zone {
		s, _ := w.Switch(id)
		for _, z := range s.TruthZoneDB().Zones {
			if strings.HasPrefix(z.Name, fabric.OwnedPrefix) {
				return z
			}
		}
		return fabric.Zone{}
	}
	arr := func(w *World) *Array { a, _ := w.Array("east-arr1"); return a }
	pool := func(w *World) string { return poolID("east-arr1", 0) }
	mkvol := func(t *testing.T, w *World, id string) {
		t.Helper()
		_, err := arr(w).CreateVolume(ctx, array.VolumeSpec{ID: id, Name: id + "-name", Pool: pool(w), SizeBytes: 10 << 30, Thin: true})
		must(t, err)
	}
	mapSpec := func(w *World, vol string, lun int) array.MapSpec {
		ports, _ := arr(w).TargetPorts(ctx)
		return array.MapSpec{Volume: vol, HostGroup: "persist-host", LUN: lun,
			Initiators:  []wwn.WWN{wwn.FromUint64(0x10000000c9000001), wwn.FromUint64(0x10000000c9000002)},
			TargetPorts: []wwn.WWN{ports[0].WWPN, ports[len(ports)/2].WWPN}}
	}
	// setB is east-vm001's idle vport on east-a and its host's HBA there.
	setB := func(t *testing.T, w *World) (vp, hba, node wwn.WWN) {
		t.Helper()
		vms, err := w.Compute().VMs(ctx)
		must(t, err)
		hosts, err := w.Compute().Hosts(ctx)
		must(t, err)
		v := vms[0]
		return v.Vports[1].WWPN, hostByID(hosts, v.Host).HBAs[0].WWPN, v.Vports[1].WWNN
	}
	return []struct {
		name   string
		change func(t *testing.T, w *World)
	}{
		{"nothing", func(t *testing.T, w *World) {}},
		{"zone commit", func(t *testing.T, w *World) {
			z := firstSIST(w, "east-a")
			commit(t, w, "east-a", []fabric.Zone{{Name: "persist_zone", Members: []wwn.WWN{wwn.FromUint64(0x2000000000000001), z.Members[1]}},
				{Name: "persist_peer", Members: []wwn.WWN{wwn.FromUint64(0x2000000000000002)}, Principals: []wwn.WWN{z.Members[1]}}},
				[]string{z.Name})
			commit(t, w, "east-a", []fabric.Zone{{Name: "persist_zone", Members: []wwn.WWN{wwn.FromUint64(0x2000000000000003), z.Members[1]}}}, nil)
			commit(t, w, "west-b", nil, []string{firstSIST(w, "west-b").Name})
		}},
		{"zone deleted by an admin", func(t *testing.T, w *World) {
			s, _ := w.Switch("east-b")
			must(t, s.DeleteZone(firstSIST(w, "east-b").Name))
			must(t, s.DeleteZone("backup_srv01_tape01_drv2"))
		}},
		{"zone put back after an admin deleted it", func(t *testing.T, w *World) {
			z := firstSIST(w, "east-a")
			s, _ := w.Switch("east-a")
			must(t, s.DeleteZone(z.Name))
			z.Members = append(z.Members, wwn.FromUint64(0x2000000000000009))
			commit(t, w, "east-a", []fabric.Zone{z}, nil)
		}},
		{"vport login", func(t *testing.T, w *World) {
			vp, hba, node := setB(t, w)
			s, _ := w.Switch("east-a")
			must(t, s.LoginVport(ctx, hba, vp, node))
			must(t, s.LoginVport(ctx, hba, wwn.FromUint64(0x5000000000000001), wwn.FromUint64(0x5000000000000002)))
		}},
		{"vport logout", func(t *testing.T, w *World) {
			vms, _ := w.Compute().VMs(ctx)
			s, _ := w.Switch("east-a")
			must(t, s.LogoutVport(ctx, vms[0].Vports[0].WWPN))
		}},
		{"vport login, logout, login", func(t *testing.T, w *World) {
			vp, hba, node := setB(t, w)
			s, _ := w.Switch("east-a")
			must(t, s.LoginVport(ctx, hba, vp, node))
			must(t, s.LogoutVport(ctx, vp))
			vms, _ := w.Compute().VMs(ctx)
			must(t, s.LogoutVport(ctx, vms[0].Vports[0].WWPN))
			must(t, s.LoginVport(ctx, hba, vp, node))
		}},
		{"ports plugged and pulled", func(t *testing.T, w *World) {
			for i, id := range []string{"east-a", "east-a", "west-b", "east-a"} {
				p := wwn.FromUint64(0x500a098100000001 + uint64(i))
				_, err := w.PlugPort(id, p, wwn.FromUint64(0x500a098000000000), i%2 == 0)
				must(t, err)
			}
			must(t, w.UnplugPort("east-a", wwn.FromUint64(0x500a098100000002)))
			_, err := w.PlugPort("east-a", wwn.FromUint64(0x500a098100000009), wwn.FromUint64(0x500a098000000000), true)
			must(t, err)
		}},
		{"volume created", func(t *testing.T, w *World) {
			mkvol(t, w, "persist-v1")
			_, err := arr(w).CreateVolume(ctx, array.VolumeSpec{ID: "persist-thick", Pool: poolID("east-arr1", 1), SizeBytes: 1 << 30})
			must(t, err)
		}},
		{"volume created presenting another's WWN", func(t *testing.T, w *World) {
			west, _ := w.Array("west-arr1")
			vols, _ := west.Volumes(ctx)
			_, err := arr(w).CreateVolume(ctx, array.VolumeSpec{ID: "persist-replica", Pool: pool(w), SizeBytes: vols[0].SizeBytes, Thin: true, WWN: vols[0].WWN})
			must(t, err)
		}},
		{"volume created from a snapshot", func(t *testing.T, w *World) {
			snaps, _ := arr(w).Snapshots(ctx)
			_, err := arr(w).CreateVolume(ctx, array.VolumeSpec{ID: "persist-clone", Pool: pool(w), SizeBytes: 600 << 30, Thin: true, FromSnapshot: snaps[0].ID})
			must(t, err)
		}},
		{"volume deleted", func(t *testing.T, w *World) {
			mkvol(t, w, "persist-v1")
			mkvol(t, w, "persist-v2")
			must(t, arr(w).DeleteVolume(ctx, "persist-v1"))
		}},
		{"volume expanded", func(t *testing.T, w *World) {
			mkvol(t, w, "persist-v1")
			_, err := arr(w).ExpandVolume(ctx, "persist-v1", 20<<30)
			must(t, err)
		}},
		{"snapshots created", func(t *testing.T, w *World) {
			mkvol(t, w, "persist-v1")
			vols, _ := arr(w).Volumes(ctx)
			_, err := arr(w).CreateSnapshots(ctx, "persist-cg", []array.SnapshotSpec{{ID: "persist-s1", Volume: "persist-v1", Name: "nightly"},
				{ID: "persist-s2", Volume: vols[0].ID}})
			must(t, err)
		}},
		{"snapshot deleted", func(t *testing.T, w *World) {
			snaps, _ := arr(w).Snapshots(ctx)
			must(t, arr(w).DeleteSnapshot(ctx, snaps[1].ID))
		}},
		{"volume mapped", func(t *testing.T, w *World) {
			mkvol(t, w, "persist-v1")
			mkvol(t, w, "persist-v2")
			must(t, arr(w).Map(ctx, mapSpec(w, "persist-v1", 3)))
			must(t, arr(w).Map(ctx, mapSpec(w, "persist-v2", 11)))
		}},
		{"volume unmapped", func(t *testing.T, w *World) {
			mkvol(t, w, "persist-v1")
			mkvol(t, w, "persist-v2")
			must(t, arr(w).Map(ctx, mapSpec(w, "persist-v1", 3)))
			must(t, arr(w).Map(ctx, mapSpec(w, "persist-v2", 11)))
			must(t, arr(w).Unmap(ctx, "persist-v1", "persist-host"))
			maps, _ := arr(w).Mappings(ctx)
			must(t, arr(w).Unmap(ctx, maps[0].Volume, maps[0].HostGroup)) // a built one: the last moves into its place
		}},
		{"replication failed over and its write rates set", func(t *testing.T, w *World) {
			west, _ := w.Array("west-arr1")
			mkvol(t, w, "persist-src")
			_, err := west.CreateVolume(ctx, array.VolumeSpec{ID: "persist-dst", Pool: poolID("west-arr1", 0), SizeBytes: 10 << 30, Thin: true})
			must(t, err)
			must(t, arr(w).Map(ctx, mapSpec(w, "persist-src", 3)))
			must(t, w.SetWriteRate("east-arr1", "persist-src", 0))
			// Empty volumes: the sync group is in step at once.
			_, err = arr(w).CreateReplicationGroup(ctx, array.ReplicationGroupSpec{ID: "persist-g", SourceArray: "east-arr1", TargetArray: "west-arr1",
				Mode: array.ReplicaSync, Pairs: []array.ReplicaPairSpec{{SourceVolume: "persist-src", TargetVolume: "persist-dst"}}})
			must(t, err)
			must(t, arr(w).DemoteReplicationGroup(ctx, "persist-g"))
			must(t, west.PromoteReplicationGroup(ctx, "persist-g", "west-arr1"))
			must(t, w.SetWriteRate("west-arr1", "persist-dst", 1e6))
		}},
		{"applied-timeout fault", func(t *testing.T, w *World) {
			must(t, w.InjectFault(Fault{Target: "east-arr1", Op: OpVolume, Count: 1, Kind: KindAppliedTimeout}))
			_, err := arr(w).CreateVolume(ctx, array.VolumeSpec{ID: "persist-late", Pool: pool(w), SizeBytes: 1 << 30, Thin: true})
			if !errors.Is(err, array.ErrUnavailable) {
				t.Fatalf("CreateVolume under an applied-timeout fault = %v", err)
			}
		}},
	}
}

func TestStateSurvivesCrash(t *testing.T) {
	seeded := dump(t, newWorld(t, persistConfig("")))
	for _, tt := range persistChanges() {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			w := openWorld(t, persistConfig(dir))
			if tt.name == "nothing" && !bytes.Equal(dump(t, w), seeded) {
				t.Fatal("a world kept in a directory differs from the one in memory")
			}
			tt.change(t, w)
			want, commits := dump(t, w), w.Fabrics()[0].Switch.Commits()
			w.crash()
			last := lastRecorded(t, dir)

			w2 := openWorld(t, persistConfig(dir))
			if got := dump(t, w2); !bytes.Equal(got, want) {
				t.Fatalf("after a crash and restart the devices differ:\n got %s\nwant %s", firstDiff(got, want), firstDiff(want, got))
			}
			if tt.name != "nothing" && bytes.Equal(want, seeded) {
				t.Fatal("the change changed nothing: the test proves nothing")
			}
			if c := w2.Fabrics()[0].Switch.Commits(); c != commits {
				t.Errorf("east-a counts %d commits after the restart, %d before", c, commits)
			}
			if now := w2.now(); now < last {
				t.Errorf("the clock went back: %v after the restart, %v before", now, last)
			}
			// The restored world keeps recording: a third world sees both.
			a, _ := w2.Array("east-arr1")
			_, err := a.CreateVolume(context.Background(), array.VolumeSpec{ID: "after-restart", Pool: poolID("east-arr1", 0), SizeBytes: 1 << 30, Thin: true})
			must(t, err)
			want = dump(t, w2)
			w2.crash()
			if got := dump(t, openWorld(t, persistConfig(dir))); !bytes.Equal(got, want) {
				t.Fatalf("after a second restart the devices differ:\n got %s\nwant %s", firstDiff(got, want), firstDiff(want, got))
			}
		})
	}
}

// firstDiff is a window of a around where it first differs from b.
func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return string(a[max(i-200, 0):min(i+200, len(a))])
}

func TestClockSurvivesRestart(t *testing.T) {
	tests := []struct {
		name  string
		close bool
	}{
		{"crash after a change", false},
		{"clean close", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := persistConfig(dir)
			cfg.Speed = 3600
			cfg.Epoch = time.Time{} // the journal keeps the one New picks
			w := openWorld(t, cfg)
			epoch := w.Config().Epoch
			a, _ := w.Array("east-arr1")
			_, err := a.CreateVolume(context.Background(), array.VolumeSpec{ID: "v", Pool: poolID("east-arr1", 0), SizeBytes: 1 << 30, Thin: true})
			must(t, err)
			var last time.Time
			if tt.close {
				last = w.Clock().Now()
				must(t, w.Close())
			} else {
				vols, _ := a.Volumes(context.Background())
				last = vols[len(vols)-1].CreatedAt
				w.crash()
			}
			w2 := openWorld(t, cfg)
			if e := w2.Config().Epoch; !e.Equal(epoch) {
				t.Fatalf("epoch %v after the restart, %v before", e, epoch)
			}
			if now := w2.Clock().Now(); now.Before(last) {
				t.Fatalf("the clock went back: %v after the restart, %v recorded", now, last)
			}
		})
	}
}

func TestClockSavedPeriodically(t *testing.T) {
	dir := t.TempDir()
	cfg := persistConfig(dir)
	cfg.Speed = 3600
	w := openWorld(t, cfg)
	first := w.now()
	// No change is made: only the periodic save moves the saved time on.
	deadline := time.Now().Add(4 * clockSaveEvery)
	var saved time.Duration
	for time.Now().Before(deadline) {
		_, at, ok, err := openClock(dir)
		must(t, err)
		if ok && at > first {
			saved = at
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if saved == 0 {
		t.Fatalf("the clock was not saved within %v", 4*clockSaveEvery)
	}
	w.crash()
	if now := openWorld(t, cfg).now(); now < saved {
		t.Fatalf("the clock went back: %v after the restart, %v saved", now, saved)
	}
}

// lastRecorded is the virtual time of the journal's last change, 0 when
// it has none.
func lastRecorded(t *testing.T, dir string) time.Duration {
	t.Helper()
	b, offs := journalOffsets(t, dir)
	if len(offs) < 2 {
		return 0
	}
	var o op
	must(t, json.Unmarshal(b[offs[len(offs)-1]+frameHeader:], &o))
	return o.At
}

// journalOffsets splits dir's journal into its frames' offsets.
func journalOffsets(t *testing.T, dir string) (b []byte, offs []int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, journalFile))
	must(t, err)
	for off := 0; off < len(b); {
		offs = append(offs, off)
		off += frameHeader + int(binary.LittleEndian.Uint32(b[off:]))
	}
	return b, offs
}

func TestJournalDamage(t *testing.T) {
	ctx := context.Background()
	// The journal holds the header (record 0), v1 (record 1) and v2 (record 2).
	rewrite := func(t *testing.T, dir string, edit func(b []byte, offs []int) []byte) {
		t.Helper()
		b, offs := journalOffsets(t, dir)
		must(t, os.WriteFile(filepath.Join(dir, journalFile), edit(b, offs), 0o600))
	}
	tests := []struct {
		name    string
		damage  func(t *testing.T, dir string)
		wantErr []string // refused, naming each
		wantV2  bool     // the second volume survives
		torn    []string // what Recovered names; nil: nothing dropped
	}{
		{"intact", func(t *testing.T, dir string) {}, nil, true, nil},
		{"torn frame header", func(t *testing.T, dir string) {
			appendFile(t, dir, []byte{200, 0, 0})
		}, nil, true, []string{"record 3 at byte", "3 bytes", "cut short"}},
		{"torn payload", func(t *testing.T, dir string) {
			appendFile(t, dir, []byte{100, 0, 0, 0, 1, 2, 3, 4, '{', '"'})
		}, nil, true, []string{"record 3 at byte", "10 bytes", "past the end"}},
		{"last record half written", func(t *testing.T, dir string) {
			b, offs := journalOffsets(t, dir)
			must(t, os.Truncate(filepath.Join(dir, journalFile), int64(offs[len(offs)-1]+(len(b)-offs[len(offs)-1])/2)))
		}, nil, false, []string{"record 2 at byte", "past the end"}},
		{"last record zeroed", func(t *testing.T, dir string) {
			rewrite(t, dir, func(b []byte, offs []int) []byte { clear(b[offs[2]+frameHeader:]); return b })
		}, nil, false, []string{"record 2 at byte", "checksum mismatch"}},
		{"last frame zeroed, length too", func(t *testing.T, dir string) {
			rewrite(t, dir, func(b []byte, offs []int) []byte { clear(b[offs[2]:]); return b })
		}, nil, false, []string{"record 2 at byte", "length is zero"}},
		{"last record's checksum flipped", func(t *testing.T, dir string) {
			rewrite(t, dir, func(b []byte, offs []int) []byte { b[offs[2]+5] ^= 0x10; return b })
		}, nil, false, []string{"record 2 at byte", "checksum mismatch"}},
		{"last record's length runs past the end", func(t *testing.T, dir string) {
			rewrite(t, dir, func(b []byte, offs []int) []byte { b[offs[2]+2] ^= 0x01; return b })
		}, nil, false, []string{"record 2 at byte", "past the end"}},
		{"middle record damaged", func(t *testing.T, dir string) {
			rewrite(t, dir, func(b []byte, offs []int) []byte { b[offs[1]+frameHeader+3] ^= 0x20; return b })
		}, []string{"record 1 at byte", "checksum mismatch"}, false, nil},
		{"middle record's length runs past the end", func(t *testing.T, dir string) {
			rewrite(t, dir, func(b []byte, offs []int) []byte { b[offs[1]+2] ^= 0x01; return b })
		}, []string{"record 1 at byte", "past the end", "whole record follows"}, false, nil},
		{"middle record's length zeroed", func(t *testing.T, dir string) {
			rewrite(t, dir, func(b []byte, offs []int) []byte { clear(b[offs[1] : offs[1]+4]); return b })
		}, []string{"record 1 at byte", "length is zero", "whole record follows"}, false, nil},
		{"middle record cut out in part", func(t *testing.T, dir string) {
			rewrite(t, dir, func(b []byte, offs []int) []byte { return append(b[:offs[1]+20:offs[1]+20], b[offs[1]+30:]...) })
		}, []string{"record 1 at byte"}, false, nil},
		{"last record's length shortened", func(t *testing.T, dir string) {
			rewrite(t, dir, func(b []byte, offs []int) []byte { return addLength(-4)(b, offs[2]) })
		}, []string{"record 2 at byte", "bytes follow it"}, false, nil},
		{"header damaged", func(t *testing.T, dir string) {
			rewrite(t, dir, func(b []byte, offs []int) []byte { b[frameHeader+5] ^= 0x01; return b })
		}, []string{"record 0 at byte 0", "whole record follows"}, false, nil},
		{"clock file torn", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, clockFile), []byte{1, 2, 3}, 0o600))
		}, nil, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			w := openWorld(t, persistConfig(dir))
			a, _ := w.Array("east-arr1")
			for _, id := range []string{"v1", "v2"} {
				_, err := a.CreateVolume(ctx, array.VolumeSpec{ID: id, Pool: poolID("east-arr1", 0), SizeBytes: 1 << 30, Thin: true})
				must(t, err)
			}
			w.crash()
			_, offs := journalOffsets(t, dir)
			tt.damage(t, dir)
			damaged, err := os.ReadFile(filepath.Join(dir, journalFile))
			must(t, err)
			w2, err := New(persistConfig(dir))
			if tt.wantErr != nil {
				wantRefused(t, err, dir, damaged, tt.wantErr...)
				return
			}
			must(t, err)
			t.Cleanup(func() { _ = w2.Close() })
			if w2.Fresh() {
				t.Error("a resumed world says it is fresh")
			}
			if r := w2.Recovered(); tt.torn == nil && r != "" {
				t.Errorf("Recovered() = %q, want nothing", r)
			} else if tt.torn != nil {
				for _, s := range append(tt.torn, filepath.Join(dir, journalFile)) {
					if !strings.Contains(r, s) {
						t.Errorf("Recovered() = %q, want it to name %q", r, s)
					}
				}
				if at := strconv.Itoa(offs[min(len(offs)-1, 2)]); !tt.wantV2 && !strings.Contains(r, "byte "+at+",") {
					t.Errorf("Recovered() = %q, want it to name byte %s", r, at)
				}
			}
			has := func(w *World, id string) bool {
				a, _ := w.Array("east-arr1")
				vols, _ := a.Volumes(ctx)
				for _, v := range vols {
					if v.ID == id {
						return true
					}
				}
				return false
			}
			if !has(w2, "v1") || has(w2, "v2") != tt.wantV2 {
				t.Fatalf("after the restart: v1 %t, v2 %t; want true, %t", has(w2, "v1"), has(w2, "v2"), tt.wantV2)
			}
			// The torn end is gone: what is appended now is read back.
			a2, _ := w2.Array("east-arr1")
			_, err = a2.CreateVolume(ctx, array.VolumeSpec{ID: "v3", Pool: poolID("east-arr1", 0), SizeBytes: 1 << 30, Thin: true})
			must(t, err)
			w2.crash()
			w3 := openWorld(t, persistConfig(dir))
			if !has(w3, "v3") || !has(w3, "v1") {
				t.Fatal("a change made after dropping a torn record was lost")
			}
			if r := w3.Recovered(); r != "" {
				t.Errorf("the restart after the one that dropped the torn end: Recovered() = %q", r)
			}
		})
	}
}

// wantRefused checks that New refused dir's journal, naming the journal and
// each of want and pointing at --lab-reset, and left it as it was.
func wantRefused(t *testing.T, err error, dir string, before []byte, want ...string) {
	t.Helper()
	if !errors.Is(err, ErrJournal) {
		t.Fatalf("New on a damaged journal = %v, want ErrJournal", err)
	}
	for _, s := range append(want, "--lab-reset", filepath.Join(dir, journalFile)) {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("New on a damaged journal = %v, want it to name %q", err, s)
		}
	}
	if strings.Contains(err.Error(), "lab: lab:") {
		t.Errorf("New = %v: a doubled prefix", err)
	}
	after, rerr := os.ReadFile(filepath.Join(dir, journalFile))
	must(t, rerr)
	if !bytes.Equal(after, before) {
		t.Fatalf("New changed a journal it refused: %d bytes before, %d after", len(before), len(after))
	}
}

// TestJournalDamagedInTheMiddle damages one record of a 93-record journal
// (the header and 92 changes) in every way a byte can: only the last
// record may be dropped as torn, and only in the ways a crash tears it.
func TestJournalDamagedInTheMiddle(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	w := openWorld(t, persistConfig(src))
	a, _ := w.Array("east-arr1")
	for i := range 92 {
		_, err := a.CreateVolume(ctx, array.VolumeSpec{ID: fmt.Sprintf("v%02d", i+1), Pool: poolID("east-arr1", 0), SizeBytes: 1 << 30, Thin: true})
		must(t, err)
	}
	w.crash()
	journal, offs := journalOffsets(t, src)
	if len(offs) != 93 {
		t.Fatalf("%d records, want 93", len(offs))
	}
	damages := []struct {
		name    string
		edit    func(b []byte, off int) []byte
		why     string
		lastWhy string // "": as why
		torn    bool   // when it is the last record, it is torn: dropped
	}{
		{"length runs past the end", func(b []byte, off int) []byte { b[off+2] ^= 0x40; return b }, "past the end", "", true},
		{"length shortened", addLength(-4), "checksum mismatch", "", false},
		{"length lengthened", addLength(4), "checksum mismatch", "past the end", true},
		{"length zeroed", func(b []byte, off int) []byte { clear(b[off : off+4]); return b }, "length is zero", "", true},
		{"checksum flipped", func(b []byte, off int) []byte { b[off+6] ^= 0x01; return b }, "checksum mismatch", "", true},
		{"payload flipped", func(b []byte, off int) []byte { b[off+frameHeader+10] ^= 0x08; return b }, "checksum mismatch", "", true},
		{"bytes missing", func(b []byte, off int) []byte { return append(b[:off+12:off+12], b[off+15:]...) }, "checksum mismatch", "past the end", true},
	}
	for _, rec := range []int{1, 23, 91, 92} {
		for _, d := range damages {
			t.Run(fmt.Sprintf("record %d %s", rec, d.name), func(t *testing.T) {
				dir := t.TempDir()
				damaged := d.edit(bytes.Clone(journal), offs[rec])
				must(t, os.WriteFile(filepath.Join(dir, journalFile), damaged, 0o600))
				w, err := New(persistConfig(dir))
				if rec == 92 && d.torn {
					must(t, err)
					defer w.Close()
					why := cmp.Or(d.lastWhy, d.why)
					if r := w.Recovered(); !strings.Contains(r, fmt.Sprintf("record 92 at byte %d,", offs[92])) || !strings.Contains(r, why) {
						t.Fatalf("Recovered() = %q, want record 92 at byte %d named, %s", r, offs[92], why)
					}
					a, _ := w.Array("east-arr1")
					vols, _ := a.Volumes(ctx)
					ids := map[string]bool{}
					for _, v := range vols {
						ids[v.ID] = true
					}
					if !ids["v01"] || !ids["v91"] || ids["v92"] {
						t.Fatalf("after dropping the torn record 92: v01 %t, v91 %t, v92 %t; want true, true, false", ids["v01"], ids["v91"], ids["v92"])
					}
					return
				}
				if err == nil {
					w.Close()
					t.Fatalf("New accepted a journal whose record %d is damaged", rec)
				}
				wantRefused(t, err, dir, damaged, fmt.Sprintf("record %d at byte %d", rec, offs[rec]), d.why)
			})
		}
	}
}

// addLength changes the length of the record at off by d.
func addLength(d int) func(b []byte, off int) []byte {
	return func(b []byte, off int) []byte {
		binary.LittleEndian.PutUint32(b[off:], uint32(int(binary.LittleEndian.Uint32(b[off:]))+d))
		return b
	}
}

// TestJournalHeaderAlone: a journal that holds only its header, damaged,
// is refused, not started again from the seed; an empty one was never
// written to, and is.
func TestJournalHeaderAlone(t *testing.T) {
	src := t.TempDir()
	must(t, openWorld(t, persistConfig(src)).Close())
	header, err := os.ReadFile(filepath.Join(src, journalFile))
	must(t, err)
	tests := []struct {
		name    string
		journal []byte
		why     string // "": accepted, fresh
	}{
		{"empty", nil, ""},
		{"checksum flipped", func() []byte { b := bytes.Clone(header); b[5] ^= 1; return b }(), "checksum mismatch"},
		{"payload flipped", func() []byte { b := bytes.Clone(header); b[frameHeader+3] ^= 1; return b }(), "checksum mismatch"},
		{"cut short", header[:len(header)-4], "past the end"},
		{"frame header cut short", header[:5], "cut short"},
		{"zeroed", make([]byte, len(header)), "length is zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			must(t, os.WriteFile(filepath.Join(dir, journalFile), tt.journal, 0o600))
			w, err := New(persistConfig(dir))
			if tt.why == "" {
				must(t, err)
				defer w.Close()
				if !w.Fresh() || w.Recovered() != "" {
					t.Fatalf("an empty journal: Fresh() %t, Recovered() %q; want true and nothing", w.Fresh(), w.Recovered())
				}
				return
			}
			if err == nil {
				w.Close()
				t.Fatal("New started afresh over a damaged header")
			}
			wantRefused(t, err, dir, tt.journal, "header", tt.why)
		})
	}
}

func appendFile(t *testing.T, dir string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, journalFile), os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	_, err = f.Write(b)
	must(t, errors.Join(err, f.Close()))
}

func TestJournalOfAnotherWorld(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		field  string
	}{
		{"seed", func(c *Config) { c.Seed = 8 }, "seed"},
		{"size", func(c *Config) { c.VMsPerSite = 20 }, "vmsPerSite"},
		{"sites", func(c *Config) { c.Sites = []string{"north", "south"} }, "sites"},
		{"epoch", func(c *Config) { c.Epoch = testEpoch.Add(time.Hour) }, "epoch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			must(t, openWorld(t, persistConfig(dir)).Close())
			cfg := persistConfig(dir)
			tt.change(&cfg)
			_, err := New(cfg)
			if !errors.Is(err, ErrJournal) || !strings.Contains(err.Error(), "--lab-reset") || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("New with another %s = %v, want ErrJournal naming %s and --lab-reset", tt.name, err, tt.field)
			}
			// Speed and commit latency are not the world's identity.
			cfg = persistConfig(dir)
			cfg.Speed, cfg.CommitLatency = 5, time.Second
			must(t, openWorld(t, cfg).Close())
		})
	}
}

func TestReset(t *testing.T) {
	ctx := context.Background()
	seeded := dump(t, newWorld(t, persistConfig("")))
	tests := []struct {
		name string
		cfg  func(dir string) Config
	}{
		{"same world", persistConfig},
		{"another seed", func(dir string) Config { c := persistConfig(dir); c.Seed = 9; return c }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			w := openWorld(t, persistConfig(dir))
			a, _ := w.Array("east-arr1")
			_, err := a.CreateVolume(ctx, array.VolumeSpec{ID: "v1", Pool: poolID("east-arr1", 0), SizeBytes: 1 << 30, Thin: true})
			must(t, err)
			s, _ := w.Switch("east-a")
			must(t, s.DeleteZone("backup_srv01_tape01_drv1"))
			w.crash()

			cfg := tt.cfg(dir)
			cfg.Reset = true
			w2 := openWorld(t, cfg)
			want := seeded
			if cfg.Seed != persistConfig("").Seed {
				c := cfg
				c.Dir, c.Reset = "", false
				want = dump(t, newWorld(t, c))
			}
			if !bytes.Equal(dump(t, w2), want) {
				t.Fatal("after a reset the world is not the seed's")
			}
			w2.crash()
			cfg.Reset = false
			if !bytes.Equal(dump(t, openWorld(t, cfg)), want) {
				t.Fatal("the reset did not last: a restart brought the old changes back")
			}
		})
	}
}

// TestFresh: Fresh tells a lab started from the seed — no state in Dir,
// or Reset — from one resumed, so that a caller expecting state can warn.
func TestFresh(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) // before New
		reset bool
		fresh bool
	}{
		{"no directory", func(t *testing.T, dir string) { must(t, os.Remove(dir)) }, false, true},
		{"an empty directory", func(t *testing.T, dir string) {}, false, true},
		{"the clock but no journal", func(t *testing.T, dir string) {
			must(t, openWorld(t, persistConfig(dir)).Close())
			must(t, os.Remove(filepath.Join(dir, journalFile)))
		}, false, true},
		{"state", func(t *testing.T, dir string) { must(t, openWorld(t, persistConfig(dir)).Close()) }, false, false},
		{"state, reset", func(t *testing.T, dir string) { must(t, openWorld(t, persistConfig(dir)).Close()) }, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "lab")
			must(t, os.Mkdir(dir, 0o700))
			tt.setup(t, dir)
			cfg := persistConfig(dir)
			cfg.Reset = tt.reset
			w := openWorld(t, cfg)
			if w.Fresh() != tt.fresh || w.Recovered() != "" {
				t.Fatalf("Fresh() %t, Recovered() %q; want %t and nothing", w.Fresh(), w.Recovered(), tt.fresh)
			}
			// Once started, the same directory is resumed.
			w.crash()
			if w := openWorld(t, persistConfig(dir)); w.Fresh() {
				t.Fatal("a restart over the state the first start made says it is fresh")
			}
		})
	}
	if newWorld(t, persistConfig("")).Fresh() {
		t.Error("a world without a Dir says it is fresh")
	}
}

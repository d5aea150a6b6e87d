package lab

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
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
		{"volume created", func(t *testing.T, w *World) {
			mkvol(t, w, "persist-v1")
			_, err := arr(w).CreateVolume(ctx, array.VolumeSpec{ID: "persist-thick", Pool: poolID("east-arr1", 1), SizeBytes: 1 << 30})
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
	tests := []struct {
		name    string
		damage  func(t *testing.T, dir string)
		wantErr bool
		wantV2  bool // the second volume survives
	}{
		{"torn frame header", func(t *testing.T, dir string) {
			appendFile(t, dir, []byte{200, 0, 0})
		}, false, true},
		{"torn payload", func(t *testing.T, dir string) {
			appendFile(t, dir, []byte{100, 0, 0, 0, 1, 2, 3, 4, '{', '"'})
		}, false, true},
		{"last record half written", func(t *testing.T, dir string) {
			b, offs := journalOffsets(t, dir)
			must(t, os.Truncate(filepath.Join(dir, journalFile), int64(offs[len(offs)-1]+(len(b)-offs[len(offs)-1])/2)))
		}, false, false},
		{"last record zeroed", func(t *testing.T, dir string) {
			b, offs := journalOffsets(t, dir)
			last := offs[len(offs)-1]
			clear(b[last+frameHeader:])
			must(t, os.WriteFile(filepath.Join(dir, journalFile), b, 0o600))
		}, false, false},
		{"middle record damaged", func(t *testing.T, dir string) {
			b, offs := journalOffsets(t, dir)
			b[offs[1]+frameHeader+3] ^= 0x20
			must(t, os.WriteFile(filepath.Join(dir, journalFile), b, 0o600))
		}, true, false},
		{"header damaged", func(t *testing.T, dir string) {
			b, _ := journalOffsets(t, dir)
			b[frameHeader+5] ^= 0x01
			must(t, os.WriteFile(filepath.Join(dir, journalFile), b, 0o600))
		}, true, false},
		{"clock file torn", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, clockFile), []byte{1, 2, 3}, 0o600))
		}, false, true},
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
			tt.damage(t, dir)
			w2, err := New(persistConfig(dir))
			if tt.wantErr {
				if !errors.Is(err, ErrJournal) || !strings.Contains(err.Error(), "--lab-reset") {
					t.Fatalf("New on a damaged journal = %v, want ErrJournal naming --lab-reset", err)
				}
				return
			}
			must(t, err)
			t.Cleanup(func() { _ = w2.Close() })
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
			if w3 := openWorld(t, persistConfig(dir)); !has(w3, "v3") || !has(w3, "v1") {
				t.Fatal("a change made after dropping a torn record was lost")
			}
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

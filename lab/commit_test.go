package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// fastCommits is Small with commits that take a millisecond of virtual time.
func fastCommits() Config {
	c := Small()
	c.CommitLatency = time.Millisecond
	return c
}

var (
	testIni  = wwn.MustParse("10:00:00:90:fa:00:00:01")
	testIni2 = wwn.MustParse("10:00:00:90:fa:00:00:02")
	testTgt  = wwn.MustParse("50:00:2a:c0:00:00:01:01")
)

func sistZone(name string) fabric.Zone {
	return fabric.Zone{Name: name, Members: []wwn.WWN{testIni, testTgt}}
}

// refApply is Commit's effect as fabric.Driver documents it, on a copy.
func refApply(db fabric.ZoneDB, txn fabric.Txn) fabric.ZoneDB {
	drop := map[string]bool{}
	for _, n := range txn.Delete {
		drop[n] = true
	}
	for _, z := range txn.Put {
		drop[z.Name] = true
	}
	out := fabric.ZoneDB{EffectiveCfg: db.EffectiveCfg}
	if out.EffectiveCfg == "" {
		out.EffectiveCfg = txn.Cfg
	}
	for _, z := range db.Zones {
		if !drop[z.Name] {
			out.Zones = append(out.Zones, z)
		}
	}
	for _, n := range db.Effective {
		if !drop[n] {
			out.Effective = append(out.Effective, n)
		}
	}
	for _, z := range txn.Put {
		out.Zones = append(out.Zones, z)
		out.Effective = append(out.Effective, z.Name)
	}
	slices.SortFunc(out.Zones, func(a, b fabric.Zone) int { return strings.Compare(a.Name, b.Name) })
	slices.Sort(out.Effective)
	return out
}

// content is a zone DB without its checksum and sizes, for comparisons.
func content(t testing.TB, db fabric.ZoneDB) string {
	t.Helper()
	b, err := json.Marshal([]any{db.EffectiveCfg, db.Zones, db.Effective})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkZoneDB checks that the switch's checksum and size are those of its
// serialization and that its arena holds no holes.
func checkZoneDB(t testing.TB, s *Switch) fabric.ZoneDB {
	t.Helper()
	db := s.TruthZoneDB()
	ser := refSerialize(db)
	if db.Checksum != md5hex(ser) || db.SizeBytes != len(ser) {
		t.Fatalf("%s: checksum %s size %d; the serialization has md5 %s and %d bytes", s.id, db.Checksum, db.SizeBytes, md5hex(ser), len(ser))
	}
	return db
}

// noCfg takes the effective configuration away, as on a fabric never zoned.
func noCfg(s *Switch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfgName = ""
	for i := range s.zones {
		s.zones[i].effective = false
	}
	s.recomputeChecksum()
}

func TestCommit(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(*Switch)
		txn   func(db fabric.ZoneDB) fabric.Txn
		same  bool // the zone DB's content stays the same
	}{
		{"put a SIST zone", nil, func(fabric.ZoneDB) fabric.Txn {
			return fabric.Txn{Put: []fabric.Zone{sistZone(fabric.SISTZoneName("east-vm001", testIni, "east-arr1", testTgt))}}
		}, false},
		{"put a peer zone", nil, func(fabric.ZoneDB) fabric.Txn {
			return fabric.Txn{Put: []fabric.Zone{{Name: fabric.PeerZoneName("east-arr1", testTgt),
				Members: []wwn.WWN{testIni, testIni2}, Principals: []wwn.WWN{testTgt}}}}
		}, false},
		{"replace a zone", nil, func(db fabric.ZoneDB) fabric.Txn {
			return fabric.Txn{Put: []fabric.Zone{sistZone(db.Zones[3].Name)}}
		}, false},
		{"replace a peer zone by a standard one", nil, func(fabric.ZoneDB) fabric.Txn {
			return fabric.Txn{Put: []fabric.Zone{sistZone("backup_srv01_arr1_peer")}}
		}, false},
		{"delete zones", nil, func(db fabric.ZoneDB) fabric.Txn {
			return fabric.Txn{Delete: []string{db.Zones[0].Name, db.Zones[len(db.Zones)-1].Name, "backup_srv01_arr1_peer"}}
		}, false},
		{"delete an absent zone", nil, func(fabric.ZoneDB) fabric.Txn {
			return fabric.Txn{Delete: []string{"no_such_zone", "no_such_zone"}}
		}, true},
		{"empty transaction", nil, func(fabric.ZoneDB) fabric.Txn { return fabric.Txn{} }, true},
		{"put, replace and delete at once", nil, func(db fabric.ZoneDB) fabric.Txn {
			return fabric.Txn{
				Put:    []fabric.Zone{sistZone("zz_last"), sistZone(db.Zones[7].Name), sistZone("aa_first")},
				Delete: []string{db.Zones[8].Name, db.Zones[9].Name, "absent"},
			}
		}, false},
		{"rezone the whole fabric", nil, func(db fabric.ZoneDB) fabric.Txn {
			var txn fabric.Txn
			for _, z := range db.Zones {
				txn.Delete = append(txn.Delete, z.Name)
			}
			for i := range 300 {
				txn.Put = append(txn.Put, sistZone(fmt.Sprintf("sm_z%04d", i)))
			}
			return txn
		}, false},
		{"create the cfg of a fabric without one", noCfg, func(fabric.ZoneDB) fabric.Txn {
			return fabric.Txn{Cfg: "cfg_new", Put: []fabric.Zone{sistZone("sm_new")}}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, fastCommits())
			s, _ := w.Switch("east-a")
			if tt.setup != nil {
				tt.setup(s)
			}
			before := checkZoneDB(t, s)
			txn := tt.txn(before)
			txn.Checksum = before.Checksum
			sum, err := s.Commit(ctx, txn)
			if err != nil {
				t.Fatalf("Commit: %v", err)
			}
			after := checkZoneDB(t, s)
			if sum != after.Checksum || s.Commits() != 1 {
				t.Fatalf("Commit returned checksum %s, the switch has %s; %d commits", sum, after.Checksum, s.Commits())
			}
			if got, want := content(t, after), content(t, refApply(before, txn)); got != want {
				t.Fatalf("zone DB after the commit:\n%s\nwant\n%s", got, want)
			}
			if (after.Checksum == before.Checksum) != tt.same {
				t.Fatalf("checksum %s -> %s; want it unchanged: %v", before.Checksum, after.Checksum, tt.same)
			}
			s.mu.RLock()
			n := 0
			for i := range s.zones {
				n += int(s.zones[i].nm) + int(s.zones[i].np)
			}
			compact := len(s.members) == n && cap(s.members) == n
			s.mu.RUnlock()
			if !compact {
				t.Fatalf("the arena holds %d (cap %d) names for %d", len(s.members), cap(s.members), n)
			}
			if !tt.same {
				if _, err := s.Commit(ctx, txn); !errors.Is(err, fabric.ErrConflict) {
					t.Fatalf("the same txn again = %v, want ErrConflict: its checksum is stale", err)
				}
			}
		})
	}
}

func TestCommitRefused(t *testing.T) {
	ctx := context.Background()
	long := "sm_" + strings.Repeat("x", 62)
	tooMany := make([]wwn.WWN, 1<<16)
	for i := range tooMany {
		tooMany[i] = wwn.FromUint64(0x1000<<48 | uint64(i+1))
	}
	tests := []struct {
		name  string
		setup func(*Switch)
		txn   func(db fabric.ZoneDB) fabric.Txn
		want  error
	}{
		{"stale checksum", nil, func(fabric.ZoneDB) fabric.Txn {
			return fabric.Txn{Checksum: "0123456789abcdef0123456789abcdef", Put: []fabric.Zone{sistZone("sm_a")}}
		}, fabric.ErrConflict},
		{"no checksum", nil, func(fabric.ZoneDB) fabric.Txn {
			return fabric.Txn{Checksum: "", Put: []fabric.Zone{sistZone("sm_a")}}
		}, fabric.ErrConflict},
		{"stale before invalid", nil, func(fabric.ZoneDB) fabric.Txn {
			return fabric.Txn{Checksum: "stale", Put: []fabric.Zone{sistZone("")}}
		}, fabric.ErrConflict},
		{"empty name", nil, put(sistZone("")), fabric.ErrInvalid},
		{"name of 65 characters", nil, put(sistZone(long)), fabric.ErrInvalid},
		{"name with a colon", nil, put(sistZone("sm_a:b")), fabric.ErrInvalid},
		{"name starting with a digit", nil, put(sistZone("1zone")), fabric.ErrInvalid},
		{"no members", nil, put(fabric.Zone{Name: "sm_empty"}), fabric.ErrInvalid},
		{"principals only", nil, put(fabric.Zone{Name: "sm_p", Principals: []wwn.WWN{testTgt}}), fabric.ErrInvalid},
		{"zero member", nil, put(fabric.Zone{Name: "sm_z", Members: []wwn.WWN{testIni, {}}}), fabric.ErrInvalid},
		{"zero principal", nil, put(fabric.Zone{Name: "sm_z", Members: []wwn.WWN{testIni}, Principals: []wwn.WWN{{}}}), fabric.ErrInvalid},
		{"too many members", nil, put(fabric.Zone{Name: "sm_big", Members: tooMany}), fabric.ErrInvalid},
		{"put twice", nil, put(sistZone("sm_a"), sistZone("sm_b"), sistZone("sm_a")), fabric.ErrInvalid},
		{"put and deleted", nil, func(fabric.ZoneDB) fabric.Txn {
			return fabric.Txn{Put: []fabric.Zone{sistZone("sm_a")}, Delete: []string{"sm_b", "sm_a"}}
		}, fabric.ErrInvalid},
		{"zone named as the cfg", nil, func(db fabric.ZoneDB) fabric.Txn {
			return fabric.Txn{Put: []fabric.Zone{sistZone(db.EffectiveCfg)}}
		}, fabric.ErrInvalid},
		{"no cfg to edit, none named", noCfg, put(sistZone("sm_a")), fabric.ErrInvalid},
		{"no cfg to edit, a bad name", noCfg, func(fabric.ZoneDB) fabric.Txn {
			return fabric.Txn{Cfg: "cfg new", Put: []fabric.Zone{sistZone("sm_a")}}
		}, fabric.ErrInvalid},
		{"over the zone DB limit", func(s *Switch) { s.w.cfg.ZoneDBMaxBytes = s.TruthZoneDB().SizeBytes + 100 }, func(fabric.ZoneDB) fabric.Txn {
			return fabric.Txn{Put: []fabric.Zone{sistZone("sm_z1"), sistZone("sm_z2")}}
		}, fabric.ErrFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, fastCommits())
			s, _ := w.Switch("east-a")
			if tt.setup != nil {
				tt.setup(s)
			}
			before := checkZoneDB(t, s)
			txn := tt.txn(before)
			if tt.want != fabric.ErrConflict {
				txn.Checksum = before.Checksum
			}
			sum, err := s.Commit(ctx, txn)
			if !errors.Is(err, tt.want) || fabric.IsTransient(err) || sum != "" {
				t.Fatalf("Commit = %q, %v; want %v", sum, err, tt.want)
			}
			if after := checkZoneDB(t, s); after.Checksum != before.Checksum || content(t, after) != content(t, before) || s.Commits() != 0 {
				t.Fatalf("a refused commit changed the zone DB (%d commits)", s.Commits())
			}
			// The fabric lock is free again.
			if _, err := s.Commit(ctx, fabric.Txn{Checksum: before.Checksum, Cfg: "cfg_x"}); err != nil {
				t.Fatalf("the next commit: %v", err)
			}
		})
	}
}

func put(zs ...fabric.Zone) func(fabric.ZoneDB) fabric.Txn {
	return func(fabric.ZoneDB) fabric.Txn { return fabric.Txn{Put: zs} }
}

func TestCommitMakesRoom(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, fastCommits())
	s, _ := w.Switch("east-a")
	db := s.TruthZoneDB()
	w.cfg.ZoneDBMaxBytes = db.SizeBytes + 10
	// Deleting two zones makes room for two new ones of the same size.
	txn := fabric.Txn{Checksum: db.Checksum, Delete: []string{db.Zones[0].Name, db.Zones[1].Name},
		Put: []fabric.Zone{sistZone(db.Zones[0].Name[:len(db.Zones[0].Name)-1] + "x"), sistZone(db.Zones[1].Name[:len(db.Zones[1].Name)-1] + "x")}}
	if _, err := s.Commit(ctx, txn); err != nil {
		t.Fatal(err)
	}
	if after := checkZoneDB(t, s); after.SizeBytes > after.MaxBytes {
		t.Fatalf("%d bytes of %d", after.SizeBytes, after.MaxBytes)
	}
}

func TestCommitFaults(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name          string
		fault         Fault
		wantErr       bool
		wantApplied   bool
		wantTransient bool
	}{
		{"zone unavailable", Fault{Target: "east-a", Op: OpZone, Count: 1}, true, false, true},
		{"commit unavailable", Fault{Target: "east-a", Op: OpCommit, Count: 1, Kind: KindUnavailable}, true, false, true},
		{"any unavailable", Fault{Target: "east-a", Op: OpAny, Count: 1}, true, false, true},
		{"zone final", Fault{Target: "east-a", Op: OpZone, Count: 1, Kind: KindFinal}, true, false, false},
		{"commit final", Fault{Target: "east-a", Op: OpCommit, Count: 1, Kind: KindFinal}, true, false, false},
		{"zone applied-timeout", Fault{Target: "east-a", Op: OpZone, Count: 1, Kind: KindAppliedTimeout}, true, true, true},
		{"commit applied-timeout", Fault{Target: "east-a", Op: OpCommit, Count: 1, Kind: KindAppliedTimeout}, true, true, true},
		{"latency", Fault{Target: "east-a", Op: OpCommit, Count: 1, Latency: time.Second}, false, true, false},
		{"other fabric", Fault{Target: "east-b", Op: OpAny, Count: 1, Kind: KindFinal}, false, true, false},
		{"reads only", Fault{Target: "east-a", Op: OpRead, Count: 1}, false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, fastCommits())
			s, _ := w.Switch("east-a")
			if err := w.InjectFault(tt.fault); err != nil {
				t.Fatal(err)
			}
			before := s.TruthZoneDB()
			_, err := s.Commit(ctx, fabric.Txn{Checksum: before.Checksum, Put: []fabric.Zone{sistZone("sm_new")}})
			if (err != nil) != tt.wantErr || (err != nil && (!errors.Is(err, ErrInjected) || fabric.IsTransient(err) != tt.wantTransient)) {
				t.Fatalf("Commit = %v; want an injected error %v, transient %v", err, tt.wantErr, tt.wantTransient)
			}
			after := checkZoneDB(t, s)
			wantCommits := 0
			if tt.wantApplied {
				wantCommits = 1
			}
			if applied := after.Checksum != before.Checksum; applied != tt.wantApplied || s.Commits() != wantCommits {
				t.Fatalf("applied %v, want %v; %d commits", applied, tt.wantApplied, s.Commits())
			}
		})
	}
}

// waitLocked waits until a commit on s holds the fabric lock.
func waitLocked(t *testing.T, s *Switch) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !s.locked.Load(); time.Sleep(100 * time.Microsecond) {
		if time.Now().After(deadline) {
			t.Fatal("no commit took the fabric lock")
		}
	}
}

func TestCommitLatency(t *testing.T) {
	t.Run("readers read the old DB and a second commit is busy until the first ends", func(t *testing.T) {
		cfg := Small()
		cfg.CommitLatency = time.Hour // a minute of real time: the test cancels it
		w := newWorld(t, cfg)
		s, _ := w.Switch("east-a")
		before := s.TruthZoneDB()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			_, err := s.Commit(ctx, fabric.Txn{Checksum: before.Checksum, Put: []fabric.Zone{sistZone("sm_a")}})
			done <- err
		}()
		waitLocked(t, s)
		if db, err := s.ZoneDB(context.Background()); err != nil || db.Checksum != before.Checksum {
			t.Fatalf("a read during the commit: %v, checksum %s", err, db.Checksum)
		}
		// Busy at once; the deadline only bounds a broken lock's wait.
		ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel2()
		_, err := s.Commit(ctx2, fabric.Txn{Checksum: before.Checksum, Put: []fabric.Zone{sistZone("sm_b")}})
		if !errors.Is(err, fabric.ErrUnavailable) || !strings.Contains(err.Error(), "fabric busy: zoning transaction in progress") {
			t.Fatalf("a second commit = %v, want busy", err)
		}
		if other, _ := w.Switch("east-b"); other.locked.Load() {
			t.Fatal("the lock of one fabric holds another")
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("the canceled commit = %v", err)
		}
		if after := s.TruthZoneDB(); after.Checksum != before.Checksum || s.Commits() != 0 || s.locked.Load() {
			t.Fatalf("a canceled commit applied (%d commits) or kept the lock", s.Commits())
		}
	})
	t.Run("deadline during the latency", func(t *testing.T) {
		cfg := Small()
		cfg.CommitLatency = time.Hour
		w := newWorld(t, cfg)
		s, _ := w.Switch("west-b")
		before := s.TruthZoneDB()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := s.Commit(ctx, fabric.Txn{Checksum: before.Checksum, Delete: []string{before.Zones[0].Name}})
		if !errors.Is(err, context.DeadlineExceeded) || !fabric.IsTransient(err) {
			t.Fatalf("Commit = %v, want the deadline", err)
		}
		if s.TruthZoneDB().Checksum != before.Checksum || s.Commits() != 0 {
			t.Fatal("a commit past its deadline applied")
		}
	})
	t.Run("an admin's change during the latency makes it conflict", func(t *testing.T) {
		cfg := Small()
		cfg.CommitLatency = 18 * time.Second // 300 ms of real time
		w := newWorld(t, cfg)
		s, _ := w.Switch("east-a")
		before := s.TruthZoneDB()
		done := make(chan error)
		go func() {
			_, err := s.Commit(context.Background(), fabric.Txn{Checksum: before.Checksum, Put: []fabric.Zone{sistZone("sm_a")}})
			done <- err
		}()
		waitLocked(t, s)
		time.Sleep(20 * time.Millisecond) // past the planning, into the latency
		if err := s.DeleteZone("backup_srv01_tape01_drv1"); err != nil {
			t.Fatal(err)
		}
		deleted := s.TruthZoneDB()
		if err := <-done; !errors.Is(err, fabric.ErrConflict) || !strings.Contains(err.Error(), "during the commit") {
			t.Fatalf("Commit = %v, want a conflict found when applying", err)
		}
		if after := checkZoneDB(t, s); after.Checksum != deleted.Checksum || s.Commits() != 0 {
			t.Fatal("the conflicting commit applied")
		}
	})
}

// TestConcurrentCommitsAndReads runs commits, an admin's deletes and vport
// logins against readers, for -race, and checks that every read is
// consistent in itself and that every commit reported done took effect.
func TestConcurrentCommitsAndReads(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, fastCommits())
	s, _ := w.Switch("east-a")
	vms, _ := w.Compute().VMs(ctx)
	hosts, _ := w.Compute().Hosts(ctx)
	stop := make(chan struct{})
	var readers, writers sync.WaitGroup
	for range 3 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				db, err := s.ZoneDB(ctx)
				if err != nil || db.Checksum != md5hex(refSerialize(db)) || db.SizeBytes != len(refSerialize(db)) {
					t.Errorf("a read saw a zone DB and a checksum that do not match (%v)", err)
					return
				}
				if _, err := s.Logins(ctx); err != nil {
					t.Error(err)
				}
				if _, err := w.Compute().VMs(ctx); err != nil {
					t.Error(err)
				}
				s.Commits()
			}
		})
	}
	var mu sync.Mutex
	done := 0
	for c := range 2 {
		writers.Go(func() {
			for i := range 15 {
				name := fmt.Sprintf("sm_c%d_%02d", c, i)
				for {
					db, err := s.ZoneDB(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					_, err = s.Commit(ctx, fabric.Txn{Checksum: db.Checksum, Put: []fabric.Zone{sistZone(name)}})
					if err == nil {
						mu.Lock()
						done++
						mu.Unlock()
						break
					}
					if !errors.Is(err, fabric.ErrConflict) && !fabric.IsTransient(err) {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	writers.Go(func() {
		for _, n := range []string{"backup_srv01_tape01_drv1", "backup_srv01_tape01_drv2", "backup_srv01_arr1_peer"} {
			if err := s.DeleteZone(n); err != nil {
				t.Error(err)
			}
			time.Sleep(time.Millisecond)
		}
	})
	writers.Go(func() {
		// Set b of east-a's VMs logs in at the VM's host and out again.
		for range 3 {
			for _, v := range vms[:8] {
				p := v.Vports[1]
				hba := hostByID(hosts, v.Host).HBAs[0].WWPN
				if err := s.LoginVport(ctx, hba, p.WWPN, p.WWNN); err != nil {
					t.Error(err)
				}
				if err := s.LogoutVport(ctx, p.WWPN); err != nil {
					t.Error(err)
				}
			}
		}
	})
	writers.Wait()
	close(stop)
	readers.Wait()
	db := checkZoneDB(t, s)
	if s.Commits() != done || done != 30 {
		t.Fatalf("%d commits took effect, %d reported done, want 30", s.Commits(), done)
	}
	for c := range 2 {
		for i := range 15 {
			if _, ok := slices.BinarySearchFunc(db.Zones, fmt.Sprintf("sm_c%d_%02d", c, i), func(z fabric.Zone, n string) int {
				return strings.Compare(z.Name, n)
			}); !ok {
				t.Fatalf("zone sm_c%d_%02d is missing", c, i)
			}
		}
	}
	if w.DuplicateLogins() != 0 {
		t.Fatalf("%d duplicate logins", w.DuplicateLogins())
	}
}

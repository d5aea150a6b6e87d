package lab

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
)

func TestDeleteZone(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		fabric  string
		zone    func(db fabric.ZoneDB) string
		wantErr error
	}{
		{"sanmob zone", "east-a", func(db fabric.ZoneDB) string { return db.Zones[len(db.Zones)-1].Name }, nil},
		{"admin zone", "west-b", func(fabric.ZoneDB) string { return "backup_srv01_tape01_drv2" }, nil},
		{"peer zone", "east-b", func(fabric.ZoneDB) string { return "backup_srv01_arr1_peer" }, nil},
		{"unknown zone", "east-a", func(fabric.ZoneDB) string { return "no_such_zone" }, fabric.ErrNotFound},
		{"zone of another fabric", "east-a", func(fabric.ZoneDB) string { return "sm_west-vm001_x" }, fabric.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, Small())
			s, _ := w.Switch(tt.fabric)
			before, err := s.ZoneDB(ctx)
			if err != nil {
				t.Fatal(err)
			}
			name := tt.zone(before)
			err = s.DeleteZone(name)
			after := s.TruthZoneDB()
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("DeleteZone(%q) = %v, want %v", name, err, tt.wantErr)
				}
				if after.Checksum != before.Checksum || len(after.Zones) != len(before.Zones) {
					t.Fatal("a failed delete changed the zone DB")
				}
				return
			}
			if err != nil {
				t.Fatalf("DeleteZone(%q): %v", name, err)
			}
			ser := refSerialize(after)
			if after.Checksum == before.Checksum || after.Checksum != md5hex(ser) || after.SizeBytes != len(ser) || after.SizeBytes >= before.SizeBytes {
				t.Fatalf("checksum %s -> %s (md5 of serialization %s), size %d -> %d (serialization %d)",
					before.Checksum, after.Checksum, md5hex(ser), before.SizeBytes, after.SizeBytes, len(ser))
			}
			if len(after.Zones) != len(before.Zones)-1 || slices.ContainsFunc(after.Zones, func(z fabric.Zone) bool { return z.Name == name }) ||
				slices.Contains(after.Effective, name) || len(after.Effective) != len(before.Effective)-1 {
				t.Fatalf("zone %s still defined or effective", name)
			}
			// What another admin did, the driver reports too.
			if got, _ := s.ZoneDB(ctx); got.Checksum != after.Checksum {
				t.Fatal("ZoneDB and TruthZoneDB disagree")
			}
			if err := s.DeleteZone(name); !errors.Is(err, fabric.ErrNotFound) {
				t.Fatalf("second delete = %v, want ErrNotFound", err)
			}
			// The other fabrics are untouched.
			for _, f := range w.Fabrics() {
				if f.ID != tt.fabric {
					db := f.Switch.TruthZoneDB()
					if db.Checksum != md5hex(refSerialize(db)) || len(db.Zones) != len(before.Zones) {
						t.Fatalf("%s changed", f.ID)
					}
				}
			}
		})
	}
}

func TestDeepCopies(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, Small())
	s, _ := w.Switch("east-a")
	a, _ := w.Array("east-arr1")
	hv := w.Compute()
	junk := wwn.MustParse("30:00:00:00:00:00:00:01")
	// Each case reads something and scribbles over it, appends included:
	// an append must not spill into the next element's slice.
	tests := []struct {
		name       string
		readMutate func() error
	}{
		{"zone db", func() error {
			db, err := s.ZoneDB(ctx)
			if err == nil {
				db.Zones[0].Members[0] = junk
				db.Zones[0].Members = append(db.Zones[0].Members, junk)
				db.Zones[0].Principals = append(db.Zones[0].Principals, junk)
				db.Zones[1].Members[0] = junk
				db.Zones[2].Name = "renamed"
				db.Effective[0] = "renamed"
			}
			return err
		}},
		{"truth zone db", func() error {
			s.TruthZoneDB().Zones[0].Members[0] = junk
			return nil
		}},
		{"logins", func() error {
			l, err := s.Logins(ctx)
			if err == nil {
				l[0].WWPN = junk
			}
			return err
		}},
		{"mappings", func() error {
			ms, err := a.Mappings(ctx)
			if err == nil {
				ms[0].Initiators[0] = junk
				ms[0].Initiators = append(ms[0].Initiators, junk)
				ms[0].TargetPorts[0] = junk
				ms[1].Initiators[0] = junk
			}
			return err
		}},
		{"truth mappings", func() error {
			a.TruthMappings()[0].TargetPorts[0] = junk
			return nil
		}},
		{"target ports", func() error {
			p, err := a.TargetPorts(ctx)
			if err == nil {
				p[0].WWPN = junk
			}
			return err
		}},
		{"vms", func() error {
			vms, err := hv.VMs(ctx)
			if err == nil {
				vms[0].Vports[0].WWPN = junk
				vms[0].Vports = append(vms[0].Vports, vms[0].Vports[0])
				vms[1].Vports[0].WWPN = junk
			}
			return err
		}},
		{"hosts", func() error {
			hs, err := hv.Hosts(ctx)
			if err == nil {
				hs[0].HBAs[0].WWPN = junk
				hs[0].HBAs = append(hs[0].HBAs, hs[0].HBAs[0])
				hs[1].HBAs[0].WWPN = junk
			}
			return err
		}},
	}
	want := dump(t, w)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.readMutate(); err != nil {
				t.Fatal(err)
			}
			if got := dump(t, w); string(got) != string(want) {
				t.Fatal("mutating a returned value changed the world")
			}
		})
	}
}

func TestConcurrentReadsAndDeletes(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, Small())
	s, _ := w.Switch("east-a")
	names := s.TruthZoneDB().Zones
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				db, err := s.ZoneDB(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				// Every snapshot is consistent in itself.
				if db.Checksum != md5hex(refSerialize(db)) {
					t.Error("a read saw a zone DB and a checksum that do not match")
					return
				}
				if _, err := s.Logins(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Go(func() {
		for _, z := range names[:20] {
			if err := s.DeleteZone(z.Name); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Go(func() {
		for range 20 {
			w.InjectFault(Fault{Target: "east-a", Op: OpCommit, Count: 1})
			w.Faults()
			w.ClearFaults()
		}
	})
	wg.Wait()
	if got := len(s.TruthZoneDB().Zones); got != len(names)-20 {
		t.Fatalf("%d zones left, want %d", got, len(names)-20)
	}
}

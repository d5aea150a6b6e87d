package fabric

import (
	"fmt"
	"testing"

	"k8s.io/utils/clock"

	"github.com/sanmob/sanmob/fabric/wwn"
)

// planFixture is a fabric with n SIST zones sanmob holds, all on the
// switch, plus 50 zones of other admins.
func planFixture(n int) (*fabricZoner, ZoneDB) {
	z := &Zoner{cfg: ZonerConfig{Clock: clock.RealClock{}}}
	f := &fabricZoner{id: "east-a", policy: SIST, z: z, pairs: make(map[pair]use, n)}
	db := ZoneDB{Checksum: "c0", MaxBytes: 4 << 20}
	for i := range n {
		p := pair{wwn.FromUint64(0x500c0ffee0000000 + uint64(i)), wwn.FromUint64(0x50002ac000000000 + uint64(i%64))}
		u := use{users: []string{fmt.Sprint("vm/vm", i)}, iniLabel: fmt.Sprint("vm", i), tgtLabel: "east-arr1"}
		f.pairs[p] = u
		db.Zones = append(db.Zones, Zone{Name: SISTZoneName(u.iniLabel, p.ini, u.tgtLabel, p.tgt), Members: []wwn.WWN{p.ini, p.tgt}})
	}
	for i := range 50 {
		db.Zones = append(db.Zones, Zone{Name: fmt.Sprint("admin_zone_", i), Members: []wwn.WWN{wwn.FromUint64(0x2100000000000000 + uint64(i)), wwn.FromUint64(0x2200000000000000 + uint64(i))}})
	}
	return f, db
}

// BenchmarkPlan10kZones: what planning one commit costs on a fabric of
// 10,000 zones — reading the zone DB into an index, admitting a batch of
// 100 new intents against the size limit, diffing and naming — and what a
// full drift comparison of the whole fabric costs.
func BenchmarkPlan10kZones(b *testing.B) {
	f, db := planFixture(10_000)
	var batch []*op
	for i := range 100 {
		batch = append(batch, &op{user: fmt.Sprint("attach-", i), add: []Intent{{
			Fabric: "east-a", Initiator: wwn.FromUint64(0x500c0ffee1000000 + uint64(i)), Target: wwn.FromUint64(0x50002ac000000001),
			InitiatorLabel: fmt.Sprint("new", i), TargetLabel: "east-arr1",
		}}})
	}
	b.Run("commit-100-intents", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			state, accepted, scope := f.admit(db, batch)
			txn, _ := f.plan(indexDevice(db), state, scope)
			if len(txn.Put) != 100 || len(accepted) != 100 {
				b.Fatalf("put %d, accepted %d", len(txn.Put), len(accepted))
			}
		}
	})
	b.Run("drift-whole-fabric", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_, d := f.plan(indexDevice(db), f.pairs, nil)
			if !d.Empty() {
				b.Fatalf("drift %+v", d)
			}
		}
	})
	b.Run("name", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, MaxZoneNameLen)
		ini, tgt := wwn.FromUint64(0x500c0ffee0000001), wwn.FromUint64(0x50002ac000000001)
		for range b.N {
			buf = AppendSISTZoneName(buf[:0], "east-vm00001", ini, "east-arr1", tgt)
		}
	})
}

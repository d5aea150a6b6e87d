package lab

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
)

func TestLargeIsValid(t *testing.T) {
	c := Large()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if hosts, vms := len(c.Sites)*c.HostsPerSite, len(c.Sites)*c.VMsPerSite; hosts != 10000 || vms != 100000 {
		t.Fatalf("Large has %d hosts and %d VMs", hosts, vms)
	}
}

// BenchmarkNewLarge builds the 10,000-host, 100,000-VM world and reports,
// besides time and allocations, the heap the built world keeps alive.
func BenchmarkNewLarge(b *testing.B) {
	cfg := Large()
	cfg.Epoch = testEpoch
	b.ReportAllocs()
	var w *World
	for b.Loop() {
		var err error
		if w, err = New(cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(w)
	w = nil
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "live-MB")
}

// BenchmarkCommitLarge commits on a fabric of 100,000 SIST zones (one site,
// 25,000 VMs): a commit rebuilds the whole zone DB aside and checksums its
// serialization, so it costs about the same whatever the transaction holds.
// put1 puts or deletes one zone in turn; replace10k rezones 10,000 at once.
func BenchmarkCommitLarge(b *testing.B) {
	cfg := Config{Seed: 1, Epoch: testEpoch, Sites: []string{"east"}, HostsPerSite: 500, VMsPerSite: 25000,
		ZoneDBMaxBytes: 64 << 20, CommitLatency: time.Nanosecond}
	w := newWorld(b, cfg)
	s, _ := w.Switch("east-a")
	ctx := context.Background()
	db := s.TruthZoneDB()
	if n := len(db.Zones) - len(adminZones); n != 100000 {
		b.Fatalf("%d SIST zones", n)
	}
	ini, tgt := wwn.MustParse("10:00:00:90:fa:00:00:01"), wwn.MustParse("50:00:2a:c0:00:00:01:01")
	txns := map[string]func(i int) fabric.Txn{
		"put1": func(i int) fabric.Txn {
			z := fabric.Zone{Name: "sm_bench", Members: []wwn.WWN{ini, tgt}}
			if i%2 == 0 {
				return fabric.Txn{Put: []fabric.Zone{z}}
			}
			return fabric.Txn{Delete: []string{z.Name}}
		},
		"replace10k": func(i int) fabric.Txn {
			var txn fabric.Txn
			for _, z := range db.Zones[:10000] {
				z.Members = []wwn.WWN{z.Members[0], wwn.FromUint64(tgt.Uint64() + uint64(i%2))}
				txn.Put = append(txn.Put, z)
			}
			return txn
		},
	}
	for _, name := range []string{"put1", "replace10k"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			sum := s.TruthZoneDB().Checksum
			i := 0
			for b.Loop() {
				b.StopTimer()
				txn := txns[name](i)
				txn.Checksum = sum
				i++
				b.StartTimer()
				var err error
				if sum, err = s.Commit(ctx, txn); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(s.TruthZoneDB().Zones)), "zones")
		})
	}
}

// BenchmarkVportLarge logs a VM's idle vport in at its host and out again
// on the Large world, whose four fabrics hold some 220,000 logins: the
// duplicate check reads every fabric's name server.
func BenchmarkVportLarge(b *testing.B) {
	cfg := Large()
	cfg.Epoch = testEpoch
	w := newWorld(b, cfg)
	ctx := context.Background()
	hv := w.Compute()
	v := &hv.vms[len(hv.vms)/3]
	x := &hv.hosts[v.host]
	s := w.switches[2*int(x.site)]
	p := v.vp[0][1]
	b.ReportAllocs()
	for b.Loop() {
		if err := s.LoginVport(ctx, x.hbas[0].wwpn, p.wwpn, p.wwnn); err != nil {
			b.Fatal(err)
		}
		if err := s.LogoutVport(ctx, p.wwpn); err != nil {
			b.Fatal(err)
		}
	}
}

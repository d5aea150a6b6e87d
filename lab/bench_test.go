package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/sanmob/sanmob/array"
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

// BenchmarkNewLargePersist builds the Large world three ways in one run: in
// memory (no Dir), from a directory whose journal holds only its header,
// and from one holding 10,000 changes (2,500 volumes created and as many
// mapped, 2,000 zone commits, 1,500 vport logins and as many logouts).
// Replay must cost per change, not per world: the difference between the
// last two is the price of the 10,000 changes.
func BenchmarkNewLargePersist(b *testing.B) {
	cfg := Large()
	cfg.Epoch = testEpoch
	seeded := newWorld(b, cfg)
	ops := benchOps(seeded)
	seeded = nil

	empty, full := b.TempDir(), b.TempDir()
	for _, d := range []struct {
		dir string
		ops []op
	}{{empty, nil}, {full, ops}} {
		writeJournal(b, d.dir, cfg, d.ops)
	}
	for _, bc := range []struct {
		name, dir string
		changes   int
	}{{"memory", "", 0}, {"journal-empty", empty, 0}, {"journal-10k", full, len(ops)}} {
		b.Run(bc.name, func(b *testing.B) {
			c := cfg
			c.Dir = bc.dir
			for b.Loop() {
				w, err := New(c)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if bc.changes > 0 {
					a, _ := w.Array(ops[0].Dev)
					if vols, _ := a.Volumes(context.Background()); vols[len(vols)-1].ID[:6] != "bench-" {
						b.Fatalf("the journal was not replayed: last volume %s", vols[len(vols)-1].ID)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(bc.changes), "changes")
		})
	}
}

// benchOps is 10,000 valid changes of the Large world w.
func benchOps(w *World) []op {
	var ops []op
	at := time.Duration(0)
	add := func(o op) {
		at += time.Second
		o.At = at
		ops = append(ops, o)
	}
	for i := range 2500 {
		a := w.arrays[i%len(w.arrays)]
		id := fmt.Sprintf("bench-v%05d", i)
		add(op{Kind: opMkVol, Dev: a.id, Volume: &array.VolumeSpec{ID: id, Pool: a.pools[0].id, SizeBytes: 1 << 30, Thin: true}})
		add(op{Kind: opMap, Dev: a.id, Map: &array.MapSpec{Volume: id, HostGroup: fmt.Sprintf("bench-h%05d", i), LUN: 0,
			Initiators: []wwn.WWN{wwn.FromUint64(0x10000000c9000000 + uint64(i))}, TargetPorts: []wwn.WWN{a.ports[0].WWPN}}})
	}
	for i := range 2000 {
		s := w.switches[i%len(w.switches)]
		o := op{Kind: opCommit, Dev: s.id, Cfg: s.cfgName, Put: []fabric.Zone{{Name: fmt.Sprintf("bench_z%05d", i),
			Members: []wwn.WWN{wwn.FromUint64(0x10000000c9100000 + uint64(i)), wwn.FromUint64(0x50002ac000000101)}}}}
		if i >= len(w.switches) && i%2 == 0 {
			o.Del = []string{fmt.Sprintf("bench_z%05d", i-len(w.switches))}
		}
		add(o)
	}
	hv := w.hv
	for i := range 1500 {
		v := &hv.vms[i*(len(hv.vms)/1500)]
		x := &hv.hosts[v.host]
		s := w.switches[2*int(x.site)]
		p := v.vp[0][1]
		add(op{Kind: opLogin, Dev: s.id, Phys: x.hbas[0].wwpn, WWPN: p.wwpn, WWNN: p.wwnn})
		add(op{Kind: opLogout, Dev: s.id, WWPN: p.wwpn})
	}
	return ops
}

// writeJournal writes a journal of ops for cfg into dir, as a world that
// made them would have, with one sync at the end.
func writeJournal(t testing.TB, dir string, cfg Config, ops []op) {
	t.Helper()
	hdr, err := json.Marshal(headerOf(cfg.withDefaults()))
	if err != nil {
		t.Fatal(err)
	}
	j, _, err := openJournal(dir, hdr)
	if err != nil {
		t.Fatal(err)
	}
	var seq uint64
	for i := range ops {
		b, err := json.Marshal(&ops[i])
		if err != nil {
			t.Fatal(err)
		}
		if seq, err = j.append(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(j.sync(seq), j.close()); err != nil {
		t.Fatal(err)
	}
}

package store

import (
	"fmt"
	"testing"
)

// benchRec is shaped like a typical sanmob record (a VM with its vports).
type benchRec struct {
	Name   string   `json:"name"`
	Host   string   `json:"host"`
	Site   string   `json:"site"`
	WWPNs  []string `json:"wwpns"`
	Volume []string `json:"volumes"`
	Gen    int      `json:"generation"`
}

func benchValue(i int) benchRec {
	return benchRec{
		Name:   fmt.Sprintf("vm-%07d", i),
		Host:   fmt.Sprintf("esx-%03d", i%512),
		Site:   "dc1",
		WWPNs:  []string{"c0:50:76:0a:bc:de:00:01", "c0:50:76:0a:bc:de:00:02"},
		Volume: []string{fmt.Sprintf("vol-%07d-boot", i), fmt.Sprintf("vol-%07d-data", i)},
		Gen:    i,
	}
}

func reportRecords(b *testing.B, records int) {
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkPutSynced: one op is one Put, each its own synced commit.
func BenchmarkPutSynced(b *testing.B) {
	s := openTest(b, b.TempDir())
	v := benchValue(1)
	b.ResetTimer()
	for i := range b.N {
		if err := s.Put("vm", fmt.Sprintf("%08d", i), v); err != nil {
			b.Fatal(err)
		}
	}
	reportRecords(b, b.N)
}

// BenchmarkBatchSynced: one op is one record of a Batch flushed (synced)
// every 1000 records.
func BenchmarkBatchSynced(b *testing.B) {
	const flushEvery = 1000
	s := openTest(b, b.TempDir())
	v := benchValue(1)
	batch := s.Batch()
	b.ResetTimer()
	for i := range b.N {
		if err := batch.Put("vm", fmt.Sprintf("%08d", i), v); err != nil {
			b.Fatal(err)
		}
		if (i+1)%flushEvery == 0 {
			if err := batch.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := batch.Flush(); err != nil {
		b.Fatal(err)
	}
	reportRecords(b, b.N)
}

// BenchmarkList: one op is a full scan of 500k records on disk.
func BenchmarkList(b *testing.B) {
	const n = 500_000
	dir := b.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	batch := s.Batch()
	for i := range n {
		if err := batch.Put("vm", fmt.Sprintf("%08d", i), benchValue(i)); err != nil {
			b.Fatal(err)
		}
	}
	// Reopen so the scan reads tables from disk, not the memtables just written.
	if err := batch.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	s = openTest(b, dir)
	scans := 0
	for b.Loop() {
		seen := 0
		err := s.List("vm", func(string, []byte) error { seen++; return nil })
		if err != nil || seen != n {
			b.Fatalf("List saw %d records, err %v; want %d", seen, err, n)
		}
		scans++
	}
	reportRecords(b, scans*n)
}

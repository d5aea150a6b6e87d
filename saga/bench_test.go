package saga

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/sanmob/sanmob/store"
)

// countingStore counts the synced writes (Put, Create, Delete) of a store.
type countingStore struct {
	Store
	writes atomic.Int64
}

func (c *countingStore) Put(kind, id string, v any) error {
	c.writes.Add(1)
	return c.Store.Put(kind, id, v)
}

func (c *countingStore) Create(kind, id string, v any) error {
	c.writes.Add(1)
	return c.Store.Create(kind, id, v)
}

func (c *countingStore) Delete(kind, id string) error {
	c.writes.Add(1)
	return c.Store.Delete(kind, id)
}

// BenchmarkSagaRun measures a 3-step run that succeeds, on a synced badger
// store, and reports the store writes per run.
func BenchmarkSagaRun(b *testing.B) {
	st, err := store.Open(store.Options{Dir: b.TempDir(), Logger: quietLog()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	cs := &countingStore{Store: st}
	e, err := New(Config{Store: cs, Log: quietLog()})
	if err != nil {
		b.Fatal(err)
	}
	noop := func(context.Context, *Exec) error { return nil }
	e.Register("bench", func(Run) ([]Step, error) {
		return []Step{{Name: "mask", Do: noop, Undo: noop}, {Name: "zone", Do: noop, Undo: noop}, {Name: "login", Do: noop}}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	data := map[string]string{"vm": "vm-1", "volume": "vol-1"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := e.Do(ctx, "bench", fmt.Sprint(i), data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cs.writes.Load())/float64(b.N), "writes/run")
}

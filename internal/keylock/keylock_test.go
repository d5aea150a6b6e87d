package keylock

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestOneHolderPerKeyAndNothingKept(t *testing.T) {
	var l Locks[string]
	var inside [2]atomic.Int32
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			k := i % 2
			unlock := l.Lock([]string{"a", "b"}[k])
			if n := inside[k].Add(1); n != 1 {
				t.Errorf("%d holders of one key", n)
			}
			inside[k].Add(-1)
			unlock()
		})
	}
	wg.Wait()
	if n := l.Len(); n != 0 {
		t.Fatalf("%d keys kept after every unlock", n)
	}
}

func TestKeysDoNotBlockEachOther(t *testing.T) {
	var l Locks[int]
	unlockA := l.Lock(1)
	done := make(chan struct{})
	go func() { l.Lock(2)(); close(done) }()
	<-done // would hang if key 2 waited for key 1
	unlockA()
}

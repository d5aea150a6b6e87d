package wwn

import (
	"errors"
	"sync"
	"testing"
)

func TestGeneratorPairs(t *testing.T) {
	taken := MustParse("50:01:a4:a0:00:00:00:02") // vendor part 2 belongs to someone else
	g, err := NewGenerator(func(w WWN) bool { return w == taken }, Pool{OUI: OUIQEMU, First: 0, Last: 7})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[WWN]bool{}
	for i := 0; i < 3; i++ {
		pn, nn, err := g.Pair()
		if err != nil {
			t.Fatalf("pair %d: %v", i, err)
		}
		for _, w := range []WWN{pn, nn} {
			if seen[w] || w == taken {
				t.Fatalf("pair %d reuses %v", i, w)
			}
			seen[w] = true
			if w.NAA() != NAAIEEERegistered {
				t.Fatalf("%v is not NAA 5", w)
			}
			if oui, _ := w.OUI(); oui != OUIQEMU {
				t.Fatalf("%v has OUI %#x", w, oui)
			}
		}
	}
	// 8 names, one pair lost to the taken name: the fourth request finds none.
	if _, _, err := g.Pair(); !errors.Is(err, ErrExhausted) {
		t.Fatalf("want ErrExhausted, got %v", err)
	}
}

func TestGeneratorFallsThroughPools(t *testing.T) {
	g, err := NewGenerator(nil, Pool{OUI: OUIVMware, First: 0, Last: 1}, Pool{OUI: OUIHyperV, First: 10, Last: 11})
	if err != nil {
		t.Fatal(err)
	}
	a, _, _ := g.Pair()
	b, _, err := g.Pair()
	if err != nil {
		t.Fatal(err)
	}
	if oa, _ := a.OUI(); oa != OUIVMware {
		t.Fatalf("first pair from %#x", oa)
	}
	if ob, _ := b.OUI(); ob != OUIHyperV {
		t.Fatalf("second pair from %#x", ob)
	}
}

func TestGeneratorRejectsBadPools(t *testing.T) {
	for name, pools := range map[string][]Pool{
		"none":     nil,
		"wide oui": {{OUI: 1 << 24, First: 0, Last: 10}},
		"wide":     {{OUI: 1, First: 0, Last: 1 << 36}},
		"reversed": {{OUI: 1, First: 5, Last: 4}},
		"overlap":  {{OUI: 1, First: 0, Last: 10}, {OUI: 1, First: 10, Last: 20}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewGenerator(nil, pools...); !errors.Is(err, ErrInvalid) {
				t.Fatalf("want ErrInvalid, got %v", err)
			}
		})
	}
}

func TestGeneratorConcurrentUnique(t *testing.T) {
	g, err := NewGenerator(nil, Pool{OUI: OUIQEMU, First: 0, Last: 1<<36 - 1})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[WWN]bool{}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				pn, nn, err := g.Pair()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[pn] || seen[nn] {
					t.Errorf("duplicate %v/%v", pn, nn)
				}
				seen[pn], seen[nn] = true, true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func BenchmarkParse(b *testing.B) {
	for b.Loop() {
		if _, err := Parse("10:00:00:90:FA:12:34:56"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestGeneratorCursorSurvivesRestart(t *testing.T) {
	pool := Pool{OUI: OUIQEMU, First: 100, Last: 1000}
	g, _ := NewGenerator(nil, pool)
	first, _, _ := g.Pair()
	cur := g.Cursor()
	// A restart with nothing in use: without the cursor it would hand out
	// the first name again.
	g2, _ := NewGenerator(nil, pool)
	g2.Advance(cur)
	again, _, _ := g2.Pair()
	if again == first {
		t.Fatalf("restarted generator reused %v", first)
	}
	g2.Advance([]uint64{0})    // wrong layout: ignored
	g2.Advance([]uint64{5000}) // past the pool: ignored
	g2.Advance([]uint64{102})  // backwards: ignored
	if next, _, _ := g2.Pair(); next == first || next == again {
		t.Fatalf("cursor moved back: %v", next)
	}
}

package lab

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/fabric"
)

// TestFabricPairsPersist: a two-pair world kept in a directory resumes as
// it was, moves and logins included; a directory of one pair is refused
// by a config of two, and the other way round.
func TestFabricPairsPersist(t *testing.T) {
	dir := t.TempDir()
	cfg := persistConfig(dir)
	cfg.FabricPairsPerSite = 2
	cfg.Speed = fastSpeed
	w := openWorld(t, cfg)
	mem := cfg
	mem.Dir = ""
	if !bytes.Equal(dump(t, w), dump(t, newWorld(t, mem))) {
		t.Fatal("a two-pair world kept in a directory differs from the one in memory")
	}
	moveVM(t, w, "east-vm001", "east-esx02", compute.MoveLive)
	moveVM(t, w, "west-vm002", "west-esx01", compute.MoveCold)
	s, _ := w.Switch("east-d")
	db := s.TruthZoneDB()
	_, err := s.Commit(context.Background(), fabric.Txn{Checksum: db.Checksum, Delete: []string{db.Zones[0].Name}})
	must(t, err)
	// The moves ran fast; the comparison runs at speed 1, where the
	// milliseconds between the dump and the crash add no written bytes
	// (at 10^5 they add a gigabyte). Speed is not the world's identity.
	must(t, w.Close())
	cfg.Speed = 1
	w1 := openWorld(t, cfg)
	want := dump(t, w1)
	w1.crash()

	w2 := openWorld(t, cfg)
	if got := dump(t, w2); !bytes.Equal(got, want) {
		t.Fatalf("after a restart the devices differ:\n got %s\nwant %s", firstDiff(got, want), firstDiff(want, got))
	}
	checkLogins(t, w2)
	must(t, w2.Close())

	for _, pairs := range []int{0, 1, 3} {
		c := cfg
		c.FabricPairsPerSite = pairs
		if _, err := New(c); !errors.Is(err, ErrJournal) || !strings.Contains(err.Error(), "fabricPairsPerSite 2") {
			t.Fatalf("New of a two-pair directory with %d pairs = %v, want ErrJournal naming fabricPairsPerSite", pairs, err)
		}
	}

	one := t.TempDir()
	must(t, openWorld(t, persistConfig(one)).Close())
	c := persistConfig(one)
	c.FabricPairsPerSite = 2
	if _, err := New(c); !errors.Is(err, ErrJournal) || !strings.Contains(err.Error(), "fabricPairsPerSite 1 (this config: 2)") {
		t.Fatalf("New of a one-pair directory with two pairs = %v, want ErrJournal naming fabricPairsPerSite", err)
	}
	c.FabricPairsPerSite = 1
	must(t, openWorld(t, c).Close())
}

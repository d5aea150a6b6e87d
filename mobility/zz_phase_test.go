package mobility

import (
	"context"
	"path/filepath"
	"testing"
	"os"
	"runtime/pprof"
	"time"

	"github.com/sanmob/sanmob/lab"
	"github.com/sanmob/sanmob/store"
)

func TestPhases(t *testing.T) {
	t0 := time.Now()
	w, err := lab.New(lab.Large())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("lab.New: %v", time.Since(t0))
	dir := t.TempDir()
	for i := 0; i < 2; i++ {
		st, err := store.Open(store.Options{Dir: filepath.Join(dir, "s"), Logger: quietLog()})
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{Store: st, Clock: w.Clock(), Log: quietLog(), Compute: w.Compute()}
		for _, s := range w.Sites() {
			cfg.Sites = append(cfg.Sites, Site{ID: s.ID})
		}
		for _, f := range w.Fabrics() {
			cfg.Fabrics = append(cfg.Fabrics, FabricDevice{ID: f.ID, Site: f.Site, Driver: f.Switch})
		}
		for _, a := range w.Arrays() {
			cfg.Arrays = append(cfg.Arrays, ArrayDevice{ID: a.ID, Site: a.Site, Driver: a.Array})
		}
		svc, _ := New(cfg)
		t2 := time.Now()
		if i == 1 {
			f, _ := os.Create("/tmp/cpu3.out")
			pprof.StartCPUProfile(f)
		}
		if err := svc.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Logf("start %d: %v", i, time.Since(t2))
		if i == 1 {
			pprof.StopCPUProfile()
		}
		st.Close()
	}
}

package lab

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/fabric"
)

// reader is one driver read of each device kind, with the sentinel its
// transient failures wrap.
type reader struct {
	name   string
	target string
	class  error
	read   func(ctx context.Context, w *World) error
}

var readers = []reader{
	{"switch zone db", "east-a", fabric.ErrUnavailable, func(ctx context.Context, w *World) error {
		s, _ := w.Switch("east-a")
		_, err := s.ZoneDB(ctx)
		return err
	}},
	{"switch logins", "east-a", fabric.ErrUnavailable, func(ctx context.Context, w *World) error {
		s, _ := w.Switch("east-a")
		_, err := s.Logins(ctx)
		return err
	}},
	{"switch info", "east-b", fabric.ErrUnavailable, func(ctx context.Context, w *World) error {
		s, _ := w.Switch("east-b")
		_, err := s.Info(ctx)
		return err
	}},
	{"array volumes", "west-arr1", array.ErrUnavailable, func(ctx context.Context, w *World) error {
		a, _ := w.Array("west-arr1")
		_, err := a.Volumes(ctx)
		return err
	}},
	{"array mappings", "west-arr1", array.ErrUnavailable, func(ctx context.Context, w *World) error {
		a, _ := w.Array("west-arr1")
		_, err := a.Mappings(ctx)
		return err
	}},
	{"array pools", "east-arr1", array.ErrUnavailable, func(ctx context.Context, w *World) error {
		a, _ := w.Array("east-arr1")
		_, err := a.Pools(ctx)
		return err
	}},
	{"hypervisor vms", "west-esx03", compute.ErrUnavailable, func(ctx context.Context, w *World) error {
		_, err := w.Compute().VMs(ctx)
		return err
	}},
	{"hypervisor hosts", "east-esx01", compute.ErrUnavailable, func(ctx context.Context, w *World) error {
		_, err := w.Compute().Hosts(ctx)
		return err
	}},
}

func TestFaultCountFailsExactlyCount(t *testing.T) {
	ctx := context.Background()
	for _, r := range readers {
		for _, op := range []string{OpRead, OpAny} {
			t.Run(r.name+"/"+op, func(t *testing.T) {
				w := newWorld(t, Small())
				if err := w.InjectFault(Fault{Target: r.target, Op: op, Count: 2}); err != nil {
					t.Fatal(err)
				}
				for i := range 2 {
					err := r.read(ctx, w)
					if !errors.Is(err, r.class) || !errors.Is(err, ErrInjected) {
						t.Fatalf("read %d = %v, want %v", i+1, err, r.class)
					}
					if left := w.Faults(); (i == 0 && (len(left) != 1 || left[0].Count != 1)) || (i == 1 && len(left) != 0) {
						t.Fatalf("after read %d the faults are %+v", i+1, left)
					}
				}
				for i := range 3 {
					if err := r.read(ctx, w); err != nil {
						t.Fatalf("read %d after the fault ran out: %v", i+3, err)
					}
				}
			})
		}
	}
}

func TestFaultMatching(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		fault    Fault
		reader   int // index into readers
		wantFail bool
	}{
		{"other fabric", Fault{Target: "east-b", Op: OpRead, Count: 1}, 0, false},
		{"write op does not touch reads", Fault{Target: "east-a", Op: OpCommit, Count: 1}, 0, false},
		{"other array", Fault{Target: "east-arr1", Op: OpAny, Count: 1}, 3, false},
		{"host fault disturbs the manager", Fault{Target: "west-esx03", Op: OpRead, Count: 1}, 7, true},
		{"host login fault leaves reads", Fault{Target: "west-esx03", Op: OpLogin, Count: 1}, 6, false},
		{"link fault leaves arrays", Fault{Target: "link:east-west", Op: OpAny, Count: 1}, 3, false},
		{"array fault leaves the switch", Fault{Target: "east-arr1", Op: OpRead, Count: 1}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, Small())
			if err := w.InjectFault(tt.fault); err != nil {
				t.Fatal(err)
			}
			err := readers[tt.reader].read(ctx, w)
			if (err != nil) != tt.wantFail {
				t.Fatalf("read = %v, want failure %v", err, tt.wantFail)
			}
		})
	}
}

func TestFaultKinds(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		kind          string
		wantApplied   bool
		wantTransient bool
	}{
		{"", false, true},
		{KindUnavailable, false, true},
		{KindFinal, false, false},
		{KindAppliedTimeout, true, true},
	}
	for _, tt := range tests {
		t.Run("kind "+tt.kind, func(t *testing.T) {
			w := newWorld(t, Small())
			if err := w.InjectFault(Fault{Target: "east-a", Op: OpCommit, Count: 1, Kind: tt.kind}); err != nil {
				t.Fatal(err)
			}
			// The helper a zone commit will call.
			applied, err := w.fault(ctx, fabric.ErrUnavailable, OpCommit, "east-a")
			if err == nil || applied != tt.wantApplied || fabric.IsTransient(err) != tt.wantTransient || !errors.Is(err, ErrInjected) {
				t.Fatalf("fault = %v, %v; want applied %v, transient %v", applied, err, tt.wantApplied, tt.wantTransient)
			}
			if applied, err := w.fault(ctx, fabric.ErrUnavailable, OpCommit, "east-a"); applied || err != nil {
				t.Fatalf("second commit = %v, %v; want clean", applied, err)
			}
		})
	}
}

func TestFaultOrderAndMultipleTargets(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, Small())
	for _, f := range []Fault{
		{Target: "west-arr1", Op: OpReplicate, Count: 1, Kind: KindFinal},
		{Target: "link:west-east", Op: OpReplicate, Count: 1},
	} {
		if err := w.InjectFault(f); err != nil {
			t.Fatal(err)
		}
	}
	// A replication names both arrays and the link; the first fault that
	// fires decides and the second is not consumed.
	_, err := w.fault(ctx, array.ErrUnavailable, OpReplicate, "east-arr1", "west-arr1", "link:east-west")
	if !errors.Is(err, ErrInjected) || array.IsTransient(err) {
		t.Fatalf("first replicate = %v, want the final failure", err)
	}
	left := w.Faults()
	if len(left) != 1 || left[0].Target != "link:east-west" || left[0].Count != 1 || left[0].Kind != KindUnavailable {
		t.Fatalf("faults left %+v", left)
	}
	if _, err := w.fault(ctx, array.ErrUnavailable, OpReplicate, "east-arr1", "west-arr1", "link:east-west"); !array.IsTransient(err) {
		t.Fatalf("second replicate = %v, want the link's transient failure", err)
	}
	w.InjectFault(Fault{Target: "east-a", Op: OpAny, Rate: 1})
	w.ClearFaults()
	if len(w.Faults()) != 0 || readers[0].read(ctx, w) != nil {
		t.Fatal("ClearFaults left faults")
	}
}

func TestFaultRateIsSeeded(t *testing.T) {
	ctx := context.Background()
	pattern := func(seed int64) string {
		w := newWorld(t, Config{Seed: seed})
		if err := w.InjectFault(Fault{Target: "east-arr1", Op: OpRead, Rate: 0.3}); err != nil {
			t.Fatal(err)
		}
		a, _ := w.Array("east-arr1")
		var b strings.Builder
		for range 400 {
			if _, err := a.Info(ctx); err != nil {
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		if f := w.Faults(); len(f) != 1 || f[0].Count != 0 {
			t.Fatalf("an unlimited rate fault ended: %+v", f)
		}
		return b.String()
	}
	p1, p2, other := pattern(9), pattern(9), pattern(10)
	if p1 != p2 {
		t.Fatalf("one seed, two patterns:\n%s\n%s", p1, p2)
	}
	if p1 == other {
		t.Fatal("two seeds, one pattern")
	}
	if n := strings.Count(p1, "x"); n < 80 || n > 160 {
		t.Fatalf("%d of 400 reads failed at rate 0.3", n)
	}
}

func TestFaultLatency(t *testing.T) {
	ctx := context.Background()
	// 6 s of virtual time at 60x is 100 ms of real time.
	w := newWorld(t, Config{Speed: 60})
	if err := w.InjectFault(Fault{Target: "east-a", Op: OpRead, Count: 1, Latency: 6 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if f := w.Faults(); len(f) != 1 || f[0].Kind != "" {
		t.Fatalf("latency fault stored as %+v", f)
	}
	v0 := w.Clock().Now()
	start := time.Now()
	if err := readers[0].read(ctx, w); err != nil {
		t.Fatalf("a slowed read failed: %v", err)
	}
	real, virtual := time.Since(start), w.Clock().Since(v0)
	if real < 80*time.Millisecond || real > 5*time.Second || virtual < 5*time.Second {
		t.Fatalf("slowed read took %v real, %v virtual; want about 100ms and 6s", real, virtual)
	}
	start = time.Now()
	if err := readers[0].read(ctx, w); err != nil || time.Since(start) > 80*time.Millisecond && time.Since(start) > real/2 {
		t.Fatalf("the read after the fault: %v in %v", err, time.Since(start))
	}
}

func TestFaultContext(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, r := range readers {
		t.Run(r.name+"/canceled", func(t *testing.T) {
			w := newWorld(t, Small())
			if err := r.read(canceled, w); !errors.Is(err, context.Canceled) {
				t.Fatalf("read with a canceled context = %v", err)
			}
		})
	}
	t.Run("deadline during a latency fault", func(t *testing.T) {
		w := newWorld(t, Small())
		// An hour of virtual time is a minute of real time: the deadline ends it.
		w.InjectFault(Fault{Target: "east-a", Op: OpAny, Rate: 1, Latency: time.Hour})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := readers[0].read(ctx, w)
		if !errors.Is(err, context.DeadlineExceeded) || !fabric.IsTransient(err) || time.Since(start) > 5*time.Second {
			t.Fatalf("read = %v after %v; want the deadline, soon", err, time.Since(start))
		}
	})
}

func TestInjectFaultRejects(t *testing.T) {
	w := newWorld(t, Small())
	tests := []struct {
		name  string
		fault Fault
		want  string
	}{
		{"no target", Fault{Op: OpRead, Count: 1}, "target is required"},
		{"unknown target", Fault{Target: "north-a", Op: OpRead, Count: 1}, "unknown target"},
		{"vm is no target", Fault{Target: "east-vm001", Op: OpRead, Count: 1}, "unknown target"},
		{"unknown link", Fault{Target: "link:east-north", Op: OpAny, Count: 1}, "no link"},
		{"link to itself", Fault{Target: "link:east-east", Op: OpAny, Count: 1}, "no link"},
		{"no op", Fault{Target: "east-a", Count: 1}, "op is required"},
		{"unknown op", Fault{Target: "east-a", Op: "explode", Count: 1}, "unknown op"},
		{"commit on an array", Fault{Target: "east-arr1", Op: OpCommit, Count: 1}, "does no"},
		{"mask on a fabric", Fault{Target: "east-a", Op: OpMask, Count: 1}, "does no"},
		{"read on a link", Fault{Target: "link:east-west", Op: OpRead, Count: 1}, "does no"},
		{"negative count", Fault{Target: "east-a", Op: OpRead, Count: -1}, "negative"},
		{"rate above one", Fault{Target: "east-a", Op: OpRead, Rate: 1.5}, "outside"},
		{"negative rate", Fault{Target: "east-a", Op: OpRead, Rate: -0.1}, "outside"},
		{"nan rate", Fault{Target: "east-a", Op: OpRead, Rate: math.NaN()}, "outside"},
		{"neither count nor rate", Fault{Target: "east-a", Op: OpRead}, "neither"},
		{"both count and rate", Fault{Target: "east-a", Op: OpRead, Count: 3, Rate: 0.5}, "both count 3 and rate 0.5"},
		{"negative latency", Fault{Target: "east-a", Op: OpRead, Count: 1, Latency: -time.Second}, "negative"},
		{"unknown kind", Fault{Target: "east-a", Op: OpRead, Count: 1, Kind: "explode"}, "unknown kind"},
		{"final latency", Fault{Target: "east-a", Op: OpRead, Count: 1, Latency: time.Second, Kind: KindFinal}, "latency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := w.InjectFault(tt.fault)
			if !errors.Is(err, ErrInvalidFault) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("InjectFault(%+v) = %v, want ErrInvalidFault mentioning %q", tt.fault, err, tt.want)
			}
		})
	}
	if len(w.Faults()) != 0 {
		t.Fatalf("rejected faults were kept: %+v", w.Faults())
	}
	accepted := []Fault{
		{Target: "east-a", Op: OpCommit, Count: 1},
		{Target: "west-b", Op: OpZone, Rate: 0.5, Kind: KindAppliedTimeout},
		{Target: "east-arr1", Op: OpMask, Count: 3, Kind: KindFinal},
		{Target: "west-esx04", Op: OpLogin, Count: 1, Latency: time.Second},
		{Target: "link:west-east", Op: OpReplicate, Rate: 1},
	}
	for _, f := range accepted {
		if err := w.InjectFault(f); err != nil {
			t.Fatalf("InjectFault(%+v): %v", f, err)
		}
	}
	got := w.Faults()
	targets := make([]string, len(got))
	for i, f := range got {
		targets[i] = f.Target
	}
	if !slices.Equal(targets, []string{"east-a", "west-b", "east-arr1", "west-esx04", "link:east-west"}) {
		t.Fatalf("faults kept in order with canonical targets: %v", targets)
	}
	// A latency fault fails nothing: it has no kind.
	kinds := make([]string, len(got))
	for i, f := range got {
		kinds[i] = f.Kind
	}
	if want := []string{KindUnavailable, KindAppliedTimeout, KindFinal, "", KindUnavailable}; !slices.Equal(kinds, want) {
		t.Fatalf("faults kept with kinds %q, want %q", kinds, want)
	}
}

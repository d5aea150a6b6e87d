package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// foreign names the ports of an array sanmob does not manage: NetApp's
// OUI, nothing the lab's build names.
func foreign(i uint64) (wwpn, wwnn wwn.WWN) {
	return wwn.FromUint64(0x500a098100000000 | i), wwn.FromUint64(0x500a098000000000)
}

// switchPort is the port index across domains of a login's "domain,area".
func switchPort(t *testing.T, l fabric.Login) int {
	t.Helper()
	d, a, ok := strings.Cut(l.SwitchPort, ",")
	dn, err1 := strconv.Atoi(d)
	an, err2 := strconv.Atoi(a)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("switch port %q of %+v", l.SwitchPort, l)
	}
	return (dn-1)*256 + an
}

// physicalPorts counts the FLOGIs in s's name server.
func physicalPorts(s *Switch) int {
	n := 0
	for _, l := range s.TruthLogins() {
		if !l.NPIV {
			n++
		}
	}
	return n
}

func TestPlugPort(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, Small())
	s, _ := w.Switch("east-a")
	built := physicalPorts(s)
	if built == 0 {
		t.Fatal("no physical ports on east-a")
	}
	before := len(s.TruthLogins())

	p1, n := foreign(1)
	l, err := w.PlugPort("east-a", p1, n, true)
	if err != nil {
		t.Fatalf("PlugPort: %v", err)
	}
	// The build cabled ports 0..built-1; the plugged one takes the next.
	want := fabric.Login{WWPN: p1, WWNN: n, Kind: fabric.Target, SwitchPort: fmt.Sprintf("1,%d", built),
		PortID: fmt.Sprintf("0x01%02x00", built), LoggedInAt: l.LoggedInAt}
	if l != want {
		t.Fatalf("PlugPort answered %+v, want %+v", l, want)
	}
	if now := w.Clock().Now(); l.LoggedInAt.Before(testEpoch) || l.LoggedInAt.After(now) {
		t.Errorf("logged in at %v, the clock says %v", l.LoggedInAt, now)
	}
	// The name server shows it, through the driver as through the truth.
	got, ok := loginOf(s, p1)
	if !ok || got != l {
		t.Fatalf("the name server shows %+v (%v), want %+v", got, ok, l)
	}
	seen := false
	ls, err := s.Logins(ctx)
	must(t, err)
	for _, x := range ls {
		seen = seen || x == l
	}
	if !seen || len(ls) != before+1 {
		t.Fatalf("Logins has %d entries (want %d), the plugged port %v", len(ls), before+1, seen)
	}

	// An initiator, on the next port.
	p2, _ := foreign(2)
	l2, err := w.PlugPort("east-a", p2, n, false)
	if err != nil {
		t.Fatalf("PlugPort: %v", err)
	}
	if l2.Kind != fabric.Initiator || l2.NPIV || switchPort(t, l2) != built+1 {
		t.Fatalf("second plug %+v, want an initiator on port %d", l2, built+1)
	}
	// The same name on other fabrics, and another site, each on their own
	// first free port.
	p3, _ := foreign(3)
	l3, err := w.PlugPort("west-b", p3, n, true)
	if err != nil {
		t.Fatalf("PlugPort west-b: %v", err)
	}
	wb, _ := w.Switch("west-b")
	if switchPort(t, l3) != physicalPorts(wb)-1 {
		t.Fatalf("west-b put it on port %s, want the first past the build's %d", l3.SwitchPort, physicalPorts(wb)-1)
	}
	if _, ok := loginOf(s, p3); ok {
		t.Fatal("a port plugged into west-b shows on east-a")
	}
	if n := w.DuplicateLogins(); n != 0 {
		t.Fatalf("%d duplicate logins", n)
	}
}

func TestPlugPortRefused(t *testing.T) {
	ctx := context.Background()
	plugged, node := foreign(1)
	tests := []struct {
		name   string
		fabric string
		wwpn   func(t *testing.T, f *vportFixture) wwn.WWN
		zeroNN bool // a zero WWNN, not the array's node name
		want   error
		says   string
	}{
		{name: "unknown fabric", fabric: "north-a", wwpn: func(*testing.T, *vportFixture) wwn.WWN { p, _ := foreign(9); return p }, want: fabric.ErrNotFound, says: "north-a"},
		{name: "zero WWPN", wwpn: func(*testing.T, *vportFixture) wwn.WWN { return wwn.WWN{} }, want: fabric.ErrInvalid, says: "zero"},
		{name: "zero WWNN", wwpn: func(*testing.T, *vportFixture) wwn.WWN { p, _ := foreign(9); return p }, zeroNN: true, want: fabric.ErrInvalid, says: "zero"},
		{name: "plugged on the same fabric", wwpn: func(*testing.T, *vportFixture) wwn.WWN { return plugged }, want: fabric.ErrConflict, says: "logged in on fabric east-a"},
		{name: "plugged on another fabric", fabric: "west-b", wwpn: func(*testing.T, *vportFixture) wwn.WWN { return plugged }, want: fabric.ErrConflict, says: "logged in on fabric east-a"},
		{name: "a host's HBA", wwpn: func(t *testing.T, f *vportFixture) wwn.WWN { return f.hba }, want: fabric.ErrConflict, says: "logged in on fabric east-a"},
		{name: "a host's HBA on another fabric", wwpn: func(t *testing.T, f *vportFixture) wwn.WWN { return f.westHBA }, want: fabric.ErrConflict, says: "logged in on fabric west-a"},
		{name: "an array's target port", wwpn: func(t *testing.T, f *vportFixture) wwn.WWN { return arrayPort(t, f.w, "east-b") }, want: fabric.ErrConflict, says: "logged in on fabric east-b"},
		{name: "the backup server", wwpn: func(t *testing.T, f *vportFixture) wwn.WWN { return f.backup }, want: fabric.ErrConflict, says: "logged in on fabric east-a"},
		{name: "a VM's vport logged in", fabric: "west-a", wwpn: func(t *testing.T, f *vportFixture) wwn.WWN { return f.setA.WWPN }, want: fabric.ErrConflict, says: "logged in on fabric east-a"},
		{name: "a VM's idle vport", wwpn: func(t *testing.T, f *vportFixture) wwn.WWN { return f.setB.WWPN }, want: fabric.ErrConflict, says: "vport of VM east-vm001"},
		{name: "a stranger's vport", wwpn: func(t *testing.T, f *vportFixture) wwn.WWN {
			must(t, f.s.LoginVport(ctx, f.backup, stranger, stranger))
			return stranger
		}, want: fabric.ErrConflict, says: "logged in on fabric east-a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newVportFixture(t, Small())
			if _, err := f.w.PlugPort("east-a", plugged, node, true); err != nil {
				t.Fatalf("PlugPort: %v", err)
			}
			p := tt.wwpn(t, f)
			nn := node
			if tt.zeroNN {
				nn = wwn.WWN{}
			}
			fid := tt.fabric
			if fid == "" {
				fid = "east-a"
			}
			before := dump(t, f.w)
			l, err := f.w.PlugPort(fid, p, nn, true)
			if !errors.Is(err, tt.want) || fabric.IsTransient(err) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("PlugPort(%s, %s) = %+v, %v; want %v saying %q", fid, p, l, err, tt.want, tt.says)
			}
			if l != (fabric.Login{}) {
				t.Errorf("a refused plug answered %+v", l)
			}
			if !bytes.Equal(dump(t, f.w), before) {
				t.Fatal("a refused plug changed the world")
			}
			// An administrator's refused plug is not sanmob's doing.
			if n := f.w.DuplicateLogins(); n != 0 {
				t.Fatalf("%d duplicate logins counted", n)
			}
		})
	}
}

// arrayPort is the first target port logged in to fabric id.
func arrayPort(t *testing.T, w *World, id string) wwn.WWN {
	t.Helper()
	s, _ := w.Switch(id)
	for _, l := range s.TruthLogins() {
		if l.Kind == fabric.Target {
			return l.WWPN
		}
	}
	t.Fatalf("no target port on %s", id)
	return wwn.WWN{}
}

func TestUnplugPort(t *testing.T) {
	f := newVportFixture(t, Small())
	w, s := f.w, f.s
	p1, n := foreign(1)
	if _, err := w.PlugPort("east-a", p1, n, true); err != nil {
		t.Fatal(err)
	}
	refused := []struct {
		name   string
		fabric string
		wwpn   wwn.WWN
		want   error
		says   string
	}{
		{"unknown fabric", "north-a", p1, fabric.ErrNotFound, "north-a"},
		{"not logged in", "east-a", stranger, fabric.ErrNotFound, "not logged in"},
		{"plugged into another fabric", "east-b", p1, fabric.ErrNotFound, "not logged in to fabric east-b"},
		{"a host's HBA", "east-a", f.hba, fabric.ErrConflict, "only plugged ports can be pulled"},
		{"an array's target port", "east-a", arrayPort(t, w, "east-a"), fabric.ErrConflict, "only plugged ports can be pulled"},
		{"the backup server", "east-a", f.backup, fabric.ErrConflict, "only plugged ports can be pulled"},
		{"a VM's vport", "east-a", f.setA.WWPN, fabric.ErrConflict, "only plugged ports can be pulled"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			before := dump(t, w)
			err := w.UnplugPort(tt.fabric, tt.wwpn)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("UnplugPort(%s, %s) = %v, want %v saying %q", tt.fabric, tt.wwpn, err, tt.want, tt.says)
			}
			if !bytes.Equal(dump(t, w), before) {
				t.Fatal("a refused unplug changed the world")
			}
		})
	}

	// A vport logged in through the plugged port goes with it.
	if err := s.LoginVport(context.Background(), p1, stranger, stranger); err != nil {
		t.Fatalf("LoginVport through a plugged port: %v", err)
	}
	others := len(s.TruthLogins()) - 2
	if err := w.UnplugPort("east-a", p1); err != nil {
		t.Fatalf("UnplugPort: %v", err)
	}
	for _, p := range []wwn.WWN{p1, stranger} {
		if _, ok := loginOf(s, p); ok {
			t.Errorf("%s still logged in after its port was pulled", p)
		}
	}
	if got := len(s.TruthLogins()); got != others {
		t.Errorf("%d logins after the pull, want %d", got, others)
	}
	if err := w.UnplugPort("east-a", p1); !errors.Is(err, fabric.ErrNotFound) {
		t.Fatalf("pulling it again = %v, want not found", err)
	}
	// Its name is free again, for a plug or a login anywhere.
	if _, err := w.PlugPort("west-a", p1, n, false); err != nil {
		t.Fatalf("plugging the pulled name into west-a: %v", err)
	}
}

// TestPlugPortTakesTheLowestFreePort: a pulled port's switch port is the
// next plug's.
func TestPlugPortTakesTheLowestFreePort(t *testing.T) {
	w := newWorld(t, Small())
	s, _ := w.Switch("east-b")
	built := physicalPorts(s)
	var ports []int
	for i := range uint64(4) {
		p, n := foreign(i + 1)
		l, err := w.PlugPort("east-b", p, n, i%2 == 0)
		must(t, err)
		ports = append(ports, switchPort(t, l))
	}
	if want := []int{built, built + 1, built + 2, built + 3}; fmt.Sprint(ports) != fmt.Sprint(want) {
		t.Fatalf("ports %v, want %v", ports, want)
	}
	p2, _ := foreign(2)
	p3, _ := foreign(3)
	must(t, w.UnplugPort("east-b", p3))
	must(t, w.UnplugPort("east-b", p2))
	for i, want := range []int{built + 1, built + 2, built + 4} {
		p, n := foreign(uint64(10 + i))
		l, err := w.PlugPort("east-b", p, n, true)
		must(t, err)
		if got := switchPort(t, l); got != want {
			t.Fatalf("plug %d after two pulls went to port %d, want %d", i, got, want)
		}
	}
}

// TestPlugPortFull: a switch with every port cabled takes no more.
func TestPlugPortFull(t *testing.T) {
	w := newWorld(t, Small())
	s, _ := w.Switch("east-a")
	s.mu.Lock()
	for port := s.builtPorts(); port < maxDomains*portsPerDomain; port++ {
		p := wwn.FromUint64(0x500a098200000000 | uint64(port))
		s.logins = append(s.logins, login{wwpn: p, wwnn: p, port: port})
	}
	s.mu.Unlock()
	p, n := foreign(1)
	if _, err := w.PlugPort("east-a", p, n, true); !errors.Is(err, fabric.ErrFull) {
		t.Fatalf("PlugPort on a full switch = %v, want ErrFull", err)
	}
	// The last port freed is the one taken.
	last := wwn.FromUint64(0x500a098200000000 | uint64(maxDomains*portsPerDomain-1))
	must(t, w.UnplugPort("east-a", last))
	l, err := w.PlugPort("east-a", p, n, true)
	must(t, err)
	if want := fmt.Sprintf("%d,%d", maxDomains, portsPerDomain-1); l.SwitchPort != want {
		t.Fatalf("switch port %s, want %s", l.SwitchPort, want)
	}
}

func TestPlugPortFaults(t *testing.T) {
	tests := []struct {
		name          string
		fault         Fault
		unplug        bool
		wantErr       bool
		wantApplied   bool
		wantTransient bool
	}{
		{name: "fabric unavailable", fault: Fault{Target: "east-a", Op: OpLogin, Count: 1}, wantErr: true, wantTransient: true},
		{name: "fabric final", fault: Fault{Target: "east-a", Op: OpAny, Count: 1, Kind: KindFinal}, wantErr: true},
		{name: "fabric applied-timeout", fault: Fault{Target: "east-a", Op: OpLogin, Count: 1, Kind: KindAppliedTimeout},
			wantErr: true, wantApplied: true, wantTransient: true},
		{name: "fabric latency", fault: Fault{Target: "east-a", Op: OpLogin, Count: 1, Latency: time.Second}, wantApplied: true},
		{name: "another fabric", fault: Fault{Target: "east-b", Op: OpLogin, Count: 1, Kind: KindFinal}, wantApplied: true},
		{name: "a host", fault: Fault{Target: "east-esx01", Op: OpAny, Count: 1, Kind: KindFinal}, wantApplied: true},
		{name: "commits only", fault: Fault{Target: "east-a", Op: OpCommit, Count: 1, Kind: KindFinal}, wantApplied: true},
		{name: "unplug, fabric unavailable", unplug: true, fault: Fault{Target: "east-a", Op: OpLogin, Count: 1},
			wantErr: true, wantTransient: true},
		{name: "unplug, fabric applied-timeout", unplug: true, fault: Fault{Target: "east-a", Op: OpLogin, Count: 1, Kind: KindAppliedTimeout},
			wantErr: true, wantApplied: true, wantTransient: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, Small())
			s, _ := w.Switch("east-a")
			p, n := foreign(1)
			if tt.unplug {
				_, err := w.PlugPort("east-a", p, n, true)
				must(t, err)
			}
			must(t, w.InjectFault(tt.fault))
			var err error
			if tt.unplug {
				err = w.UnplugPort("east-a", p)
			} else {
				_, err = w.PlugPort("east-a", p, n, true)
			}
			if (err != nil) != tt.wantErr || (err != nil && (!errors.Is(err, ErrInjected) || fabric.IsTransient(err) != tt.wantTransient)) {
				t.Fatalf("err = %v; want an injected error %v, transient %v", err, tt.wantErr, tt.wantTransient)
			}
			_, in := loginOf(s, p)
			if applied := in != tt.unplug; applied != tt.wantApplied {
				t.Fatalf("applied %v, want %v", applied, tt.wantApplied)
			}
		})
	}
}

// TestPluggedPortsSurviveRestart: plugs and pulls are journaled; a world
// reopened from its directory, after a clean close or a kill -9, has every
// plugged port on the switch port it had.
func TestPluggedPortsSurviveRestart(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(map[bool]string{false: "close", true: "crash"}[crash], func(t *testing.T) {
			dir := t.TempDir()
			w := openWorld(t, persistConfig(dir))
			for i := range uint64(4) {
				p, n := foreign(i + 1)
				_, err := w.PlugPort([]string{"east-a", "east-a", "east-a", "west-b"}[i], p, n, i != 1)
				must(t, err)
			}
			p2, _ := foreign(2)
			must(t, w.UnplugPort("east-a", p2))
			// The next plug takes the pulled one's port: a replay that
			// chose again after a reordering would not land there.
			p5, n := foreign(5)
			l5, err := w.PlugPort("east-a", p5, n, false)
			must(t, err)
			want := map[string][]fabric.Login{}
			for _, id := range []string{"east-a", "west-b"} {
				s, _ := w.Switch(id)
				want[id] = s.TruthLogins()
			}
			if crash {
				w.crash()
			} else {
				must(t, w.Close())
			}

			w2 := openWorld(t, persistConfig(dir))
			for id, ls := range want {
				s, _ := w2.Switch(id)
				if got := s.TruthLogins(); fmt.Sprint(got) != fmt.Sprint(ls) {
					t.Fatalf("%s after the restart:\n got %v\nwant %v", id, got, ls)
				}
			}
			s, _ := w2.Switch("east-a")
			if l, ok := loginOf(s, p5); !ok || l != l5 {
				t.Fatalf("the last plug is %+v (%v) after the restart, was %+v", l, ok, l5)
			}
			if _, ok := loginOf(s, p2); ok {
				t.Fatal("the pulled port is back after the restart")
			}
			// The reopened world refuses the same duplicates and keeps
			// recording: a third world sees the pull.
			if _, err := w2.PlugPort("east-b", p5, n, true); !errors.Is(err, fabric.ErrConflict) {
				t.Fatalf("plugging a replayed port's name again = %v, want a conflict", err)
			}
			must(t, w2.UnplugPort("east-a", p5))
			w2.crash()
			s3, _ := openWorld(t, persistConfig(dir)).Switch("east-a")
			if _, ok := loginOf(s3, p5); ok {
				t.Fatal("a pull after the restart was not kept")
			}
		})
	}
}

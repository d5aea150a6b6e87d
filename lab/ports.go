package lab

import (
	"context"
	"fmt"
	"slices"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// Plugged ports. The build cables a fixed set of devices into each switch
// (the arrays' target ports, the backup server and tape drives, the hosts'
// HBAs, in that order from port 0). PlugPort cables in one more, as an
// administrator connecting a device sanmob does not manage would — another
// vendor's array, say: its FLOGI takes the lowest switch port past the
// build's that no login uses. UnplugPort pulls such a port again; the
// build's own stay. Both are journaled like every other device change, and
// the journal keeps the switch port, so a replay puts the port back exactly
// where it was.

// PlugPort logs wwpn (node wwnn) in to fabric fabricID as a physical port
// (FLOGI, NPIV index 0) on a free switch port, and answers the name
// server's entry for it. target makes it a storage target port in the name
// server (fabric.Target), as an array's is; otherwise it is an initiator.
// Refused: an unknown fabric (fabric.ErrNotFound); a zero WWPN or WWNN
// (fabric.ErrInvalid); a WWPN logged in anywhere in the lab, on any fabric
// and as a physical port or an NPIV vport, or named by a lab VM's vport
// (fabric.ErrConflict: the first login wins, and a VM's vport must stay
// free for it); a fabric with no switch port left (fabric.ErrFull). A
// login fault on the fabric fails it as it fails a vport's login. The
// change is on disk before PlugPort returns.
func (w *World) PlugPort(fabricID string, wwpn, wwnn wwn.WWN, target bool) (fabric.Login, error) {
	s, ok := w.Switch(fabricID)
	if !ok {
		return fabric.Login{}, fmt.Errorf("lab: no fabric %q: %w", fabricID, fabric.ErrNotFound)
	}
	if wwpn.IsZero() || wwnn.IsZero() {
		return fabric.Login{}, fmt.Errorf("lab: port %s (node %s): %w: a zero WWN; a port logs in with a port and a node name", wwpn, wwnn, fabric.ErrInvalid)
	}
	applyThenFail, faultErr := w.fault(context.Background(), fabric.ErrUnavailable, OpLogin, s.id)
	if faultErr != nil && !applyThenFail {
		return fabric.Login{}, faultErr
	}
	l, seq, err := s.plug(wwpn, wwnn, target, 0)
	if err != nil {
		return fabric.Login{}, err
	}
	if err := w.persisted(seq); err != nil {
		return fabric.Login{}, persistErr("fabric "+s.id, err, fabric.ErrUnavailable)
	}
	if faultErr != nil {
		return fabric.Login{}, faultErr
	}
	return l, nil
}

// UnplugPort pulls a port PlugPort cabled into fabric fabricID: its login
// goes, and with it any NPIV vport logged in through it. Refused: an
// unknown fabric or a WWPN not logged in there (fabric.ErrNotFound); a
// port the lab's build cabled or an NPIV vport (fabric.ErrConflict: only
// plugged ports can be pulled). A login fault on the fabric fails it. The
// change is on disk before UnplugPort returns.
func (w *World) UnplugPort(fabricID string, wwpn wwn.WWN) error {
	s, ok := w.Switch(fabricID)
	if !ok {
		return fmt.Errorf("lab: no fabric %q: %w", fabricID, fabric.ErrNotFound)
	}
	applyThenFail, faultErr := w.fault(context.Background(), fabric.ErrUnavailable, OpLogin, s.id)
	if faultErr != nil && !applyThenFail {
		return faultErr
	}
	seq, err := s.unplug(wwpn)
	if err != nil {
		return err
	}
	if err := w.persisted(seq); err != nil {
		return persistErr("fabric "+s.id, err, fabric.ErrUnavailable)
	}
	return faultErr
}

// builtPorts is the number of switch ports the build cabled: ports
// 0..builtPorts-1, the hosts' the last of them.
func (s *Switch) builtPorts() int32 { return s.hostPort0 + int32(s.hosts) }

// plug logs wwpn in on switch port port, or on the lowest free one past
// the build's when port is 0 (a live plug; replay passes the port the
// journal recorded), and records the change; the caller waits for the
// returned record with persisted.
func (s *Switch) plug(wwpn, wwnn wwn.WWN, target bool, port int32) (fabric.Login, uint64, error) {
	if wwpn.IsZero() || wwnn.IsZero() {
		return fabric.Login{}, 0, fmt.Errorf("lab: port %s (node %s): %w: a zero WWN", wwpn, wwnn, fabric.ErrInvalid)
	}
	w, hv := s.w, s.w.hv
	w.loginMu.Lock()
	defer w.loginMu.Unlock()
	// Under loginMu no name server changes, so what is read here still
	// holds when the login is made below.
	if on, ok := w.loggedIn(wwpn); ok {
		return fabric.Login{}, 0, fmt.Errorf("lab: fabric %s refuses to plug in %s: it is logged in on fabric %s already, and the first login wins: %w",
			s.id, wwpn, on, fabric.ErrConflict)
	}
	hv.mu.RLock()
	vm, isVport := hv.vportOwner(wwpn)
	hv.mu.RUnlock()
	if isVport {
		return fabric.Login{}, 0, fmt.Errorf("lab: fabric %s refuses to plug in %s: it names a vport of VM %s, which would then find it taken: %w",
			s.id, wwpn, vm, fabric.ErrConflict)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	at, port, err := s.freePort(port)
	if err != nil {
		return fabric.Login{}, 0, err
	}
	now := w.now()
	l := login{wwpn: wwpn, wwnn: wwnn, at: now, port: port, target: target}
	s.logins = slices.Insert(s.logins, at, l)
	seq, err := s.record(&op{Kind: opPlug, Dev: s.id, At: now, WWPN: wwpn, WWNN: wwnn, Port: port, Target: target})
	if err != nil {
		return fabric.Login{}, 0, err
	}
	fl, _ := w.fabricLogin(&l, nil)
	return fl, seq, nil
}

// freePort returns where in the name server a FLOGI on a free switch port
// goes, and the port: want if it is past the build's ports and free, or,
// when want is 0, the lowest such port. The caller holds s.mu.
func (s *Switch) freePort(want int32) (at int, port int32, err error) {
	first, limit := s.builtPorts(), int32(maxDomains*portsPerDomain)
	if want != 0 {
		if want < first || want >= limit {
			return 0, 0, fmt.Errorf("lab: switch port %d of fabric %s is not one a port can be plugged into (%d..%d): %w",
				want, s.id, first, limit-1, fabric.ErrInvalid)
		}
		at, taken := slices.BinarySearchFunc(s.logins, login{port: want}, loginLess)
		if taken {
			return 0, 0, fmt.Errorf("lab: switch port %d of fabric %s is taken by %s: %w", want, s.id, s.logins[at].wwpn, fabric.ErrConflict)
		}
		return at, want, nil
	}
	at, _ = slices.BinarySearchFunc(s.logins, login{port: first}, loginLess)
	port = first
	// The logins are in port order, each port's FLOGI before its FDISCs:
	// the first port missing from the run that starts at first is free.
	for ; at < len(s.logins) && s.logins[at].port <= port; at++ {
		if s.logins[at].port == port {
			port++
		}
	}
	if port >= limit {
		return 0, 0, fmt.Errorf("lab: fabric %s has no free switch port: all %d are cabled: %w", s.id, limit, fabric.ErrFull)
	}
	return at, port, nil
}

// unplug removes wwpn's FLOGI and every FDISC through its port, and
// records the change; the caller waits for the returned record with
// persisted.
func (s *Switch) unplug(wwpn wwn.WWN) (uint64, error) {
	w, hv := s.w, s.w.hv
	w.loginMu.Lock()
	defer w.loginMu.Unlock()
	hv.mu.Lock()
	defer hv.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.findLogin(wwpn)
	if !ok {
		return 0, fmt.Errorf("lab: %s is not logged in to fabric %s: %w", wwpn, s.id, fabric.ErrNotFound)
	}
	l := s.logins[i]
	switch {
	case l.npiv != 0:
		return 0, fmt.Errorf("lab: %s is an NPIV vport on fabric %s (through %s), not a plugged port; only plugged ports can be pulled: %w",
			wwpn, s.id, l.phys, fabric.ErrConflict)
	case l.port < s.builtPorts():
		return 0, fmt.Errorf("lab: %s is on switch port %d of fabric %s, which the lab's build cabled (a host's HBA, an array's target port, the backup server or a tape drive); only plugged ports can be pulled: %w",
			wwpn, l.port, s.id, fabric.ErrConflict)
	}
	// Pulling the cable logs out whatever logged in through the port.
	j := i + 1
	for ; j < len(s.logins) && s.logins[j].port == l.port; j++ {
		if vp := hv.vport(s.logins[j].wwpn); vp != nil && vp.hba == wwpn {
			vp.hba = wwn.WWN{}
		}
	}
	s.logins = slices.Delete(s.logins, i, j)
	return s.record(&op{Kind: opUnplug, Dev: s.id, At: w.now(), WWPN: wwpn})
}

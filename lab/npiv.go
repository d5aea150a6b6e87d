package lab

import (
	"context"
	"fmt"
	"slices"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// LoginVport performs the FDISC of wwpn through the physical port on the
// host's behalf, as its HBA driver would (fabric.Vporter). A login fault on
// the fabric or on the host that owns the physical port fails it. When wwpn
// is a lab VM's vport, the hypervisor sees it instantiated on that HBA.
func (s *Switch) LoginVport(ctx context.Context, physical, wwpn, wwnn wwn.WWN) error {
	applyThenFail, faultErr := s.w.fault(ctx, fabric.ErrUnavailable, OpLogin, s.loginTargets(physical)...)
	if faultErr != nil && !applyThenFail {
		return faultErr
	}
	seq, err := s.loginVport(physical, wwpn, wwnn)
	if err != nil {
		return err
	}
	if err := s.w.persisted(seq); err != nil {
		return persistErr("fabric "+s.id, err, fabric.ErrUnavailable)
	}
	return faultErr
}

// LogoutVport logs wwpn out of this fabric; a WWPN not logged in here is
// not an error. A login fault on the fabric or on the host that carries the
// vport fails it.
func (s *Switch) LogoutVport(ctx context.Context, wwpn wwn.WWN) error {
	applyThenFail, faultErr := s.w.fault(ctx, fabric.ErrUnavailable, OpLogin, s.loginTargets(wwpn)...)
	if faultErr != nil && !applyThenFail {
		return faultErr
	}
	seq, err := s.logoutVport(wwpn)
	if err != nil {
		return err
	}
	if err := s.w.persisted(seq); err != nil {
		return persistErr("fabric "+s.id, err, fabric.ErrUnavailable)
	}
	return faultErr
}

// DuplicateLogins counts the vport logins a lab fabric rejected because the
// WWPN was logged in already, here or on another fabric. On a real fabric
// each would cut a VM off its storage, so sanmob must cause none.
func (w *World) DuplicateLogins() int { return int(w.dupLogins.Load()) }

// loginVport logs wwpn in and records the change; the caller waits for
// the returned record with persisted.
func (s *Switch) loginVport(physical, wwpn, wwnn wwn.WWN) (uint64, error) {
	if wwpn.IsZero() || wwnn.IsZero() {
		return 0, fmt.Errorf("lab: vport %s (node %s): %w: a zero WWN", wwpn, wwnn, fabric.ErrInvalid)
	}
	w, hv := s.w, s.w.hv
	w.loginMu.Lock()
	defer w.loginMu.Unlock()
	// Under loginMu no name server and no HBA's count changes, so what is
	// read here under read locks still holds when it is applied below.
	s.mu.RLock()
	i, ok := s.findLogin(physical)
	var phys login
	var npiv uint8
	var at int
	if ok {
		phys = s.logins[i]
		npiv, at = s.freeNPIV(i)
	}
	s.mu.RUnlock()
	if !ok || phys.npiv != 0 {
		return 0, fmt.Errorf("lab: physical port %s is not logged in to fabric %s: %w", physical, s.id, fabric.ErrNotFound)
	}
	// The HBA refuses a vport it has no slot for before any FDISC reaches
	// the fabric.
	h := s.hostOf(phys.port)
	if h >= 0 {
		hv.mu.RLock()
		x := &hv.hosts[h]
		id, b := x.id, x.hbas[s.side]
		hv.mu.RUnlock()
		if b.vportsInUse >= b.maxVports {
			return 0, fmt.Errorf("lab: %s of host %s carries %d vports, its limit: %w", b.name, id, b.vportsInUse, fabric.ErrFull)
		}
	}
	if npiv == 0 {
		return 0, fmt.Errorf("lab: physical port %s on fabric %s carries %d vports, the FC limit: %w", physical, s.id, maxNPIVPerPort, fabric.ErrFull)
	}
	if on, ok := w.loggedIn(wwpn); ok {
		w.dupLogins.Add(1)
		return 0, fmt.Errorf("lab: fabric %s rejects the login of %s: it is logged in on fabric %s, and the first login wins: %w",
			s.id, wwpn, on, fabric.ErrConflict)
	}

	hv.mu.Lock()
	defer hv.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := w.now()
	s.logins = slices.Insert(s.logins, at, login{wwpn: wwpn, wwnn: wwnn, phys: physical,
		at: now, port: phys.port, npiv: npiv})
	if h >= 0 {
		hv.hosts[h].hbas[s.side].vportsInUse++
	}
	if vp := hv.vport(wwpn); vp != nil {
		vp.hba = physical
	}
	return s.record(&op{Kind: opLogin, Dev: s.id, At: now, Phys: physical, WWPN: wwpn, WWNN: wwnn})
}

// record records o under the locks that made the change.
func (s *Switch) record(o *op) (uint64, error) {
	seq, err := s.w.record(o)
	if err != nil {
		return 0, persistErr("fabric "+s.id, err, fabric.ErrUnavailable)
	}
	return seq, nil
}

// logoutVport logs wwpn out and records the change, if there was one.
func (s *Switch) logoutVport(wwpn wwn.WWN) (uint64, error) {
	w, hv := s.w, s.w.hv
	w.loginMu.Lock()
	defer w.loginMu.Unlock()
	s.mu.RLock()
	i, ok := s.findLogin(wwpn)
	var l login
	if ok {
		l = s.logins[i]
	}
	s.mu.RUnlock()
	switch {
	case !ok:
		return 0, nil
	case l.npiv == 0:
		return 0, fmt.Errorf("lab: %s is a physical port of fabric %s, not a vport: %w", wwpn, s.id, fabric.ErrInvalid)
	}

	hv.mu.Lock()
	defer hv.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logins = slices.Delete(s.logins, i, i+1)
	if h := s.hostOf(l.port); h >= 0 {
		hv.hosts[h].hbas[s.side].vportsInUse--
	}
	if vp := hv.vport(wwpn); vp != nil && vp.hba == l.phys {
		vp.hba = wwn.WWN{}
	}
	return s.record(&op{Kind: opLogout, Dev: s.id, At: w.now(), WWPN: wwpn})
}

// loginTargets names what a login fault on p's port may target: the
// fabric, and the host whose HBA the port is, if p is logged in here.
func (s *Switch) loginTargets(p wwn.WWN) []string {
	s.mu.RLock()
	i, ok := s.findLogin(p)
	var port int32
	if ok {
		port = s.logins[i].port
	}
	s.mu.RUnlock()
	h := -1
	if ok {
		h = s.hostOf(port)
	}
	if h < 0 {
		return []string{s.id}
	}
	hv := s.w.hv
	hv.mu.RLock()
	defer hv.mu.RUnlock()
	return []string{s.id, hv.hosts[h].id}
}

// findLogin finds p in the name server. The caller holds s.mu.
func (s *Switch) findLogin(p wwn.WWN) (int, bool) {
	i := slices.IndexFunc(s.logins, func(l login) bool { return l.wwpn == p })
	return i, i >= 0
}

// freeNPIV returns the lowest NPIV index free on the physical port whose
// FLOGI is s.logins[i], 0 when all are taken, and where a login with it
// goes to keep the name server in port id order. The caller holds s.mu.
func (s *Switch) freeNPIV(i int) (npiv uint8, at int) {
	port, next := s.logins[i].port, 1
	j := i + 1
	for ; j < len(s.logins) && s.logins[j].port == port && int(s.logins[j].npiv) == next; j++ {
		next++
	}
	if next > maxNPIVPerPort {
		return 0, j
	}
	return uint8(next), j
}

// hostOf returns the hypervisor's index of the host whose HBA is on the
// physical port, or -1 (the arrays, the backup server and the tapes).
func (s *Switch) hostOf(port int32) int {
	if i := int(port - s.hostPort0); i >= 0 && i < s.hosts {
		return s.host0 + s.pair + i*s.pairs
	}
	return -1
}

// loggedIn reports the fabric on which p is logged in, if any. It takes
// each switch's read lock in turn, never two at once.
func (w *World) loggedIn(p wwn.WWN) (string, bool) {
	for _, s := range w.switches {
		s.mu.RLock()
		_, ok := s.findLogin(p)
		s.mu.RUnlock()
		if ok {
			return s.id, true
		}
	}
	return "", false
}

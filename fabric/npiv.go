package fabric

import (
	"context"
	"errors"
	"fmt"

	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/internal/keylock"
)

// Vports logs NPIV virtual ports in and out so that no WWPN is ever logged
// in twice: before every FDISC it reads the name server of every fabric, and
// it refuses — without trying — a WWPN logged in anywhere else. A duplicate
// login is what breaks a fabric; Brocade rejects the second one, and a
// rejected FDISC leaves the VM without its path. Logins of one WWPN are
// serialized, so two calls cannot race past the check.
type Vports struct {
	fabrics map[string]Driver
	porters map[string]Vporter
	locks   keylock.Locks[wwn.WWN]
}

// NewVports builds the registry over fabrics; a fabric whose driver cannot
// log ports in (no Vporter) refuses logins with ErrInvalid.
func NewVports(fabrics map[string]Driver) *Vports {
	v := &Vports{fabrics: fabrics, porters: map[string]Vporter{}}
	for id, d := range fabrics {
		if p, ok := d.(Vporter); ok {
			v.porters[id] = p
		}
	}
	return v
}

// where finds wwpn in every fabric's name server: the fabric and the
// physical port it is logged in through, if anywhere; and how many NPIV
// logins the physical port carries on fabricID.
func (v *Vports) where(ctx context.Context, w wwn.WWN, fabricID string, physical wwn.WWN) (onFabric string, via wwn.WWN, inUse int, err error) {
	for _, id := range sortedKeys(v.fabrics) {
		logins, err := v.fabrics[id].Logins(ctx)
		if err != nil {
			return "", wwn.WWN{}, 0, fmt.Errorf("fabric %s: reading the name server: %w", id, err)
		}
		for _, l := range logins {
			if l.WWPN == w {
				onFabric, via = id, l.PhysicalWWPN
			}
			if id == fabricID && l.NPIV && l.PhysicalWWPN == physical {
				inUse++
			}
		}
	}
	return onFabric, via, inUse, nil
}

// Login logs wwpn in on fabricID through the physical HBA port, which may
// carry at most maxVports vports (0: the switch's limit alone). Logging in
// a vport already logged in there is a no-op. A WWPN logged in anywhere
// else is refused with ErrConflict before any FDISC is sent.
func (v *Vports) Login(ctx context.Context, fabricID string, physical, wwpn, wwnn wwn.WWN, maxVports int) error {
	p, err := v.porter(fabricID)
	if err != nil {
		return err
	}
	defer v.locks.Lock(wwpn)()
	on, via, inUse, err := v.where(ctx, wwpn, fabricID, physical)
	switch {
	case err != nil:
		return err
	case on == fabricID && via == physical:
		return nil
	case on != "":
		return fmt.Errorf("%w: vport %s is logged in on fabric %s through %s; it must log out there before it logs in again", ErrConflict, wwpn, on, via)
	case maxVports > 0 && inUse >= maxVports:
		return fmt.Errorf("%w: HBA port %s on fabric %s carries %d vports, its limit", ErrFull, physical, fabricID, inUse)
	}
	err = p.LoginVport(ctx, physical, wwpn, wwnn)
	if err == nil || !IsTransient(err) {
		return wrapFabric(fabricID, err)
	}
	// The FDISC may have happened: the name server says.
	if on, via, _, rerr := v.where(ctx, wwpn, fabricID, physical); rerr == nil && on == fabricID && via == physical {
		return nil
	}
	return wrapFabric(fabricID, err)
}

// Logout logs wwpn out of fabricID; a WWPN not logged in there is fine.
func (v *Vports) Logout(ctx context.Context, fabricID string, wwpn wwn.WWN) error {
	p, err := v.porter(fabricID)
	if err != nil {
		return err
	}
	defer v.locks.Lock(wwpn)()
	err = p.LogoutVport(ctx, wwpn)
	if err == nil || !IsTransient(err) {
		return wrapFabric(fabricID, err)
	}
	if on, _, _, rerr := v.where(ctx, wwpn, fabricID, wwn.WWN{}); rerr == nil && on != fabricID {
		return nil
	}
	return wrapFabric(fabricID, err)
}

func (v *Vports) porter(fabricID string) (Vporter, error) {
	if _, ok := v.fabrics[fabricID]; !ok {
		return nil, fmt.Errorf("%w: fabric %q", ErrNotFound, fabricID)
	}
	p, ok := v.porters[fabricID]
	if !ok {
		return nil, fmt.Errorf("%w: fabric %q: its driver cannot log vports in; the host's HBA driver must", ErrInvalid, fabricID)
	}
	return p, nil
}

func wrapFabric(id string, err error) error {
	if err == nil {
		return nil
	}
	var fe *fabricError
	if errors.As(err, &fe) {
		return err
	}
	return &fabricError{fabric: id, err: err}
}

// fabricError names the fabric an error came from.
type fabricError struct {
	fabric string
	err    error
}

func (e *fabricError) Error() string { return "fabric " + e.fabric + ": " + e.err.Error() }
func (e *fabricError) Unwrap() error { return e.err }

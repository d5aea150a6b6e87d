package inventory

import (
	"fmt"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/store"
)

// A VM's placed zoning. Discovery adopts the zoning it finds, in compact
// chunks written once (adopt.go). A migration moves a VM's zones to other
// fabrics and targets; the chunks would still say where they were. So a
// migration writes the VM's zone intents as they now are in a record of
// kind vmzoning, in the same transaction that records the VM's new
// placement, and from then on that record — not the chunks — is the VM's
// adopted zoning at every start.
const kindVMZoning = "vmzoning"

// VMZoning is the zone intents of a VM as a migration left them.
type VMZoning struct {
	VM      string          `json:"vm"`
	Intents []fabric.Intent `json:"intents"`
}

// VMZoningUser is the Zoner user that holds a VM's adopted (and placed)
// zone intents.
func VMZoningUser(vm string) string { return owner{"vm", vm}.String() }

// PutVMZoning writes a VM's placed zoning in tx; call SetVMZonedLocked
// once tx has committed.
func PutVMZoning(tx *store.Tx, z VMZoning) error { return tx.Put(kindVMZoning, z.VM, z) }

// SetVMZonedLocked says the VM's zoning is its placed record's, not the
// discovery's chunks'; s's lock must be held.
func (s *Inventory) SetVMZonedLocked(vm string) { s.vmZoned[vm] = true }

// loadVMZoning reads the placed zoning records: they replace, for their
// VMs, the adopted chunks' pairs.
func (s *Inventory) loadVMZoning() ([]VMZoning, error) {
	var out []VMZoning
	if err := LoadKind(s.st, kindVMZoning, func(z *VMZoning) { out = append(out, *z) }); err != nil {
		return nil, fmt.Errorf("inventory: load placed zoning: %w", err)
	}
	return out, nil
}

// adoptPlaced hands the placed records' intents to the Zoner.
func (s *Inventory) adoptPlaced(zs []VMZoning) {
	for _, z := range zs {
		if err := s.zoner.Adopt(VMZoningUser(z.VM), z.Intents); err != nil {
			s.log.WithError(err).WithField("vm", z.VM).Warn("placed zoning refused")
		}
	}
}

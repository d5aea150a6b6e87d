package inventory

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/lab"
)

// TestPatchHostRefusedWhileLoggedIn: a PATCH of a VM's host would move the
// record while its vports stay logged in through the old host's HBAs; it is
// refused (ErrConflict, naming the migration API) while any is logged in, and
// allowed once all are logged out.
func TestPatchHostRefusedWhileLoggedIn(t *testing.T) {
	h := newHarness(t, lab.Small())
	ctx := context.Background()
	vm, err := h.svc.VM("east-vm002")
	if err != nil {
		t.Fatal(err)
	}
	to := "east-esx04"
	if vm.Host == to {
		to = "east-esx03"
	}
	_, err = h.svc.UpdateVM(vm.ID, VMPatch{Host: &to})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "POST /v1/migrations") || !strings.Contains(err.Error(), "logged in") {
		t.Fatalf("PATCH host of a logged-in VM: %v, want a conflict naming POST /v1/migrations", err)
	}
	if got, _ := h.svc.VM(vm.ID); got.Host != vm.Host {
		t.Fatalf("the refused PATCH moved the VM to %s", got.Host)
	}
	for _, p := range vm.Vports {
		if !p.LoggedIn {
			continue
		}
		sw, _ := h.world.Switch(p.Fabric)
		if err := sw.LogoutVport(ctx, p.WWPN); err != nil {
			t.Fatal(err)
		}
		h.svc.Refresh(ctx)
		if _, err := h.svc.UpdateVM(vm.ID, VMPatch{Host: &to}); !errors.Is(err, ErrConflict) && !loggedOutAll(t, h, vm.ID) {
			t.Fatalf("PATCH host with some vports still logged in: %v", err)
		}
	}
	got, err := h.svc.UpdateVM(vm.ID, VMPatch{Host: &to})
	if err != nil || got.Host != to {
		t.Fatalf("PATCH host of a VM with every vport logged out: %+v, %v", got, err)
	}
}

func loggedOutAll(t *testing.T, h *harness, id string) bool {
	t.Helper()
	vm, err := h.svc.VM(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range vm.Vports {
		if p.LoggedIn {
			return false
		}
	}
	return true
}

// TestPatchHostFollowsTheLogins: when the hypervisor moved the VM behind
// sanmob's back and its vports logged in again through the new host's
// HBAs, a PATCH of host corrects the record and is allowed.
func TestPatchHostFollowsTheLogins(t *testing.T) {
	h := newHarness(t, lab.Small())
	ctx := context.Background()
	vm, err := h.svc.VM("east-vm002")
	if err != nil {
		t.Fatal(err)
	}
	to := "east-esx04"
	if vm.Host == to {
		to = "east-esx03"
	}
	dst, err := h.svc.Host(to)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range vm.Vports {
		if !p.LoggedIn {
			continue
		}
		sw, _ := h.world.Switch(p.Fabric)
		if err := sw.LogoutVport(ctx, p.WWPN); err != nil {
			t.Fatal(err)
		}
		for _, b := range dst.HBAs {
			if b.Fabric == p.Fabric {
				if err := sw.LoginVport(ctx, b.WWPN, p.WWPN, p.WWNN); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	h.svc.Refresh(ctx)
	if got, err := h.svc.UpdateVM(vm.ID, VMPatch{Host: &to}); err != nil || got.Host != to {
		t.Fatalf("PATCH host to where the vports are logged in: %+v, %v", got, err)
	}
}

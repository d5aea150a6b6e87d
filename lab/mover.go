package lab

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/internal/clockwait"
)

var _ compute.Mover = (*Hypervisor)(nil)

// How the lab's hypervisor moves VMs, in virtual time. A live move copies
// the VM's memory once over the migration network, at moveEfficiency of its
// bandwidth (DOMAIN.md: add 20–30 % overhead), then stops the VM for
// liveSwitchover (QEMU's default maximum downtime) to resume it at the
// destination. Within a site the migration network is moveBandwidthMbps (a
// 10 GbE vMotion network); across sites it is the slower of that and the
// inter-site link, which the move is not charged against (link sharing is
// the replication model's). Pre-copy rounds for dirtied pages are not
// modelled. Config.TransferCapBytesPerSec, when set, caps the memory copy's
// rate. A cold move only re-registers the VM: coldMoveTime. Powering
// off or on takes no virtual time.
//
// A 4 GiB VM moves live in ≈ 4.6 s of virtual time, a 32 GiB one in ≈ 35 s.
const (
	moveBandwidthMbps = 10000
	moveEfficiency    = 0.8
	liveSwitchover    = 300 * time.Millisecond
	coldMoveTime      = 2 * time.Second
)

// Journal records of the hypervisor's changes (see persist.go); Dev is the
// VM's id.
const (
	opMoveVM  = "moveVM"  // Host: where it now runs
	opPowerVM = "powerVM" // Power: compute.PowerOn or compute.PowerOff
)

// memoryOf is a lab VM's memory: 4, 8, 16 or 32 GiB, drawn from its id so
// that the seeded world (whose generator draws no memory size) stays byte
// for byte the same.
func memoryOf(id string) int64 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return 4 << 30 << (h.Sum32() % 4)
}

func (v *vm) power() string {
	if v.off {
		return compute.PowerOff
	}
	return compute.PowerOn
}

// vmIndex resolves a VM id to its index in the hypervisor's table by
// parsing it, as hostIndex does for hosts.
func (w *World) vmIndex(id string) (int, bool) {
	site, num, ok := strings.Cut(id, "-vm")
	if !ok {
		return -1, false
	}
	s, ok := w.siteIndex(site)
	if !ok || len(num) != width(w.cfg.VMsPerSite, 3) || num[0] == '+' || num[0] == '-' {
		return -1, false
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > w.cfg.VMsPerSite {
		return -1, false
	}
	return s*w.cfg.VMsPerSite + n - 1, true
}

// moveTime is the virtual time a move of a VM with mem bytes of memory
// takes between hosts of sites src and dst.
func (w *World) moveTime(mode compute.MoveMode, mem int64, src, dst int32) time.Duration {
	if mode == compute.MoveCold {
		return coldMoveTime
	}
	mbps := float64(moveBandwidthMbps)
	if src != dst {
		a, b := w.cfg.Sites[src], w.cfg.Sites[dst]
		for _, l := range w.links {
			if (l.From == a && l.To == b) || (l.From == b && l.To == a) {
				mbps = min(mbps, l.BandwidthMbps)
			}
		}
	}
	bps := mbps * 1e6 / 8 * moveEfficiency
	if c := w.cfg.TransferCapBytesPerSec; c > 0 {
		bps = min(bps, c)
	}
	secs := float64(mem) / bps
	return time.Duration(secs*float64(time.Second)) + liveSwitchover
}

// Move moves a VM to a host (compute.Mover). A live move takes the time
// moveTime says on the virtual clock; a cold one coldMoveTime. It consults
// the move faults on the source and destination hosts first: unavailable
// and final ones fail it at once, the VM where it was; an applied-timeout
// one moves it and then reports a transient error. A ctx that ends during
// the copy abandons the move. Move changes only where the VM runs: its
// vports stay logged in where they are, for the caller to move (the idle
// set logged in at the destination before, the old set out after).
func (h *Hypervisor) Move(ctx context.Context, vmID, hostID string, mode compute.MoveMode) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !mode.Valid() {
		return fmt.Errorf("lab: move of %s: mode %q, want %q or %q: %w", vmID, mode, compute.MoveLive, compute.MoveCold, compute.ErrInvalid)
	}
	w := h.w
	vi, ok := w.vmIndex(vmID)
	if !ok {
		return fmt.Errorf("lab: no VM %q: %w", vmID, compute.ErrNotFound)
	}
	hi, ok := w.hostIndex(hostID)
	if !ok {
		return fmt.Errorf("lab: no host %q: %w", hostID, compute.ErrNotFound)
	}

	h.mu.Lock()
	v := &h.vms[vi]
	src := v.host
	var refuse error
	switch {
	case int(src) == hi:
		h.mu.Unlock()
		return nil
	case v.moving:
		refuse = fmt.Errorf("lab: a move of %s is under way: %w", vmID, compute.ErrUnavailable)
	case mode == compute.MoveLive && v.off:
		refuse = fmt.Errorf("lab: %s is powered off: a live move needs it running (move it cold): %w", vmID, compute.ErrConflict)
	case mode == compute.MoveCold && !v.off:
		refuse = fmt.Errorf("lab: %s is powered on: a cold move needs it off (power it off, or move it live): %w", vmID, compute.ErrConflict)
	}
	if refuse != nil {
		h.mu.Unlock()
		return refuse
	}
	v.moving = true
	srcID, srcSite, dstSite := h.hosts[src].id, h.hosts[src].site, h.hosts[hi].site
	h.mu.Unlock()
	applied := false
	defer func() {
		if !applied {
			h.mu.Lock()
			h.vms[vi].moving = false
			h.mu.Unlock()
		}
	}()

	applyThenFail, faultErr := w.fault(ctx, compute.ErrUnavailable, OpMove, srcID, hostID)
	if faultErr != nil && !applyThenFail {
		return faultErr
	}
	if err := clockwait.Sleep(ctx, w.clock, w.moveTime(mode, memoryOf(vmID), srcSite, dstSite)); err != nil {
		return fmt.Errorf("lab: move of %s to %s abandoned, it still runs on %s: %w", vmID, hostID, srcID, err)
	}

	h.mu.Lock()
	v = &h.vms[vi]
	v.host, v.moving, applied = int32(hi), false, true
	seq, err := w.record(&op{Kind: opMoveVM, Dev: vmID, At: w.now(), Host: hostID})
	h.mu.Unlock()
	if err := errors.Join(err, w.persisted(seq)); err != nil {
		return persistErr("hypervisor", err, compute.ErrUnavailable)
	}
	return faultErr
}

// PowerOff powers a VM off (compute.Mover), consulting the power faults on
// its host; a VM being moved is busy (transient).
func (h *Hypervisor) PowerOff(ctx context.Context, vmID string) error {
	return h.setPower(ctx, vmID, true)
}

// PowerOn powers a VM on where it is (compute.Mover), as PowerOff.
func (h *Hypervisor) PowerOn(ctx context.Context, vmID string) error {
	return h.setPower(ctx, vmID, false)
}

func (h *Hypervisor) setPower(ctx context.Context, vmID string, off bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w := h.w
	vi, ok := w.vmIndex(vmID)
	if !ok {
		return fmt.Errorf("lab: no VM %q: %w", vmID, compute.ErrNotFound)
	}
	check := func(v *vm) (done bool, err error) {
		switch {
		case v.off == off:
			return true, nil
		case v.moving:
			return true, fmt.Errorf("lab: %s is being moved: %w", vmID, compute.ErrUnavailable)
		}
		return false, nil
	}
	h.mu.RLock()
	done, err := check(&h.vms[vi])
	hostID := h.hosts[h.vms[vi].host].id
	h.mu.RUnlock()
	if done {
		return err
	}

	applyThenFail, faultErr := w.fault(ctx, compute.ErrUnavailable, OpPower, hostID)
	if faultErr != nil && !applyThenFail {
		return faultErr
	}

	h.mu.Lock()
	v := &h.vms[vi]
	if done, err := check(v); done {
		h.mu.Unlock()
		if err != nil {
			return err
		}
		return faultErr
	}
	now := w.now()
	v.off = off
	if !off {
		v.poweredOn = now
	}
	seq, err := w.record(&op{Kind: opPowerVM, Dev: vmID, At: now, Power: v.power()})
	h.mu.Unlock()
	if err := errors.Join(err, w.persisted(seq)); err != nil {
		return persistErr("hypervisor", err, compute.ErrUnavailable)
	}
	return faultErr
}

// replayOne applies one of the hypervisor's journal records.
func (h *Hypervisor) replayOne(o *op) error {
	vi, ok := h.w.vmIndex(o.Dev)
	if !ok {
		return errors.New("no such VM")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	v := &h.vms[vi]
	switch o.Kind {
	case opMoveVM:
		hi, ok := h.w.hostIndex(o.Host)
		if !ok {
			return fmt.Errorf("no host %q", o.Host)
		}
		v.host = int32(hi)
	case opPowerVM:
		switch o.Power {
		case compute.PowerOn:
			v.off, v.poweredOn = false, o.At
		case compute.PowerOff:
			v.off = true
		default:
			return fmt.Errorf("power %q", o.Power)
		}
	default:
		return fmt.Errorf("no change %q on the hypervisor", o.Kind)
	}
	return nil
}

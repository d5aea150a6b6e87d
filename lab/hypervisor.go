package lab

import (
	"context"
	"sync"
	"time"

	"github.com/sanmob/sanmob/compute"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// Hypervisor is the lab's hypervisor manager: one inventory for the hosts
// and VMs of every site, as a vCenter spanning them would keep.
type Hypervisor struct {
	w *World

	mu    sync.RWMutex
	hosts []host // site by site, in id order
	vms   []vm   // site by site, in id order
}

type host struct {
	id     string
	site   int32
	pair   int32  // the site's fabric pair the host is on: HostsPerSite index % FabricPairsPerSite
	hbas   [2]hba // one per fabric of its pair, by side: a (or c, e, ...), b (or d, f, ...)
	booted time.Duration
}

type hba struct {
	name        string
	wwpn, wwnn  wwn.WWN
	maxVports   int32
	vportsInUse int32
}

// vm keeps its vports inline, [side][set], because every VM has exactly a
// pair per fabric of its host's fabric pair. A vport's fabric is not kept:
// it is side's fabric of the pair of the host the VM is on, so a move to a
// host on another pair takes the vports to that pair's fabrics.
type vm struct {
	id        string
	host      int32
	shares    int32
	poweredOn time.Duration // when its active vports logged in, or it was last powered on
	off       bool          // powered off (Mover.PowerOff); the built world's VMs all run
	moving    bool          // a Move of it is under way (not kept: a crash abandons it)
	vp        [2][2]vport
}

type vport struct {
	wwpn, wwnn wwn.WWN
	hba        wwn.WWN // zero while not instantiated
	active     bool
}

var vportSets = [2]string{"a", "b"}

// Hosts lists the hosts of every site. A fault on any host disturbs it: the
// manager's inventory includes that host.
func (h *Hypervisor) Hosts(ctx context.Context) ([]compute.Host, error) {
	if _, err := h.w.fault(ctx, compute.ErrUnavailable, OpRead, anyHost); err != nil {
		return nil, err
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]compute.Host, len(h.hosts))
	hbas := make([]compute.HBA, 2*len(h.hosts))
	for i := range h.hosts {
		x := &h.hosts[i]
		hs := hbas[2*i : 2*i+2 : 2*i+2]
		for f, b := range x.hbas {
			hs[f] = compute.HBA{Name: b.name, WWPN: b.wwpn, WWNN: b.wwnn,
				MaxVports: int(b.maxVports), VportsInUse: int(b.vportsInUse)}
		}
		out[i] = compute.Host{ID: x.id, Name: x.id, Site: h.w.cfg.Sites[x.site], HBAs: hs}
	}
	return out, nil
}

// VMs lists the VMs of every site.
func (h *Hypervisor) VMs(ctx context.Context) ([]compute.VM, error) {
	if _, err := h.w.fault(ctx, compute.ErrUnavailable, OpRead, anyHost); err != nil {
		return nil, err
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]compute.VM, len(h.vms))
	vps := make([]compute.Vport, 4*len(h.vms))
	for i := range h.vms {
		v := &h.vms[i]
		hst := &h.hosts[v.host]
		ps := vps[4*i : 4*i+4 : 4*i+4]
		for f := range v.vp {
			fid := h.w.switchOf(int(hst.site), int(hst.pair), f).id
			for s, p := range v.vp[f] {
				ps[2*f+s] = compute.Vport{WWPN: p.wwpn, WWNN: p.wwnn, Fabric: fid,
					HBA: p.hba, Set: vportSets[s], Active: p.active}
			}
		}
		out[i] = compute.VM{ID: v.id, Name: v.id, Host: hst.id, Vports: ps, Shares: int(v.shares),
			Power: v.power(), MemoryBytes: memoryOf(v.id)}
	}
	return out, nil
}

// vport finds a VM's vport by WWPN, or nil. The caller holds h.mu.
func (h *Hypervisor) vport(p wwn.WWN) *vport {
	k, ok := h.vportIndex(p)
	if !ok {
		return nil
	}
	return &h.vms[k/4].vp[k/2%2][k%2]
}

// vportOwner returns the id of the VM one of whose vports p names, if
// any: logged in or not, the name is that VM's. The caller holds h.mu.
func (h *Hypervisor) vportOwner(p wwn.WWN) (string, bool) {
	k, ok := h.vportIndex(p)
	if !ok {
		return "", false
	}
	return h.vms[k/4].id, true
}

// vportIndex finds a VM's vport by WWPN. The build names vports from one
// sequence VM by VM, side by side, set by set, each pair taking two
// names, so the kth WWPN of the sequence is vms[k/4].vp[k/2%2][k%2]: the
// name says where to look. The caller holds h.mu.
func (h *Hypervisor) vportIndex(p wwn.WWN) (uint64, bool) {
	const vendorBits = 36
	u, base := p.Uint64(), h.w.vportBase
	v := u & (1<<vendorBits - 1)
	if u>>vendorBits != 5<<24|uint64(wwn.OUIQEMU) || v < base || (v-base)%2 != 0 {
		return 0, false
	}
	k := (v - base) / 2
	if k >= 4*uint64(len(h.vms)) || h.vms[k/4].vp[k/2%2][k%2].wwpn != p {
		return 0, false
	}
	return k, true
}

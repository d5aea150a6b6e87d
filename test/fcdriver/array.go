package fcdriver

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// The array's errors. Each is a definite answer of the array, not a
// transient one.
var (
	ErrNoVolume   = errors.New("no such volume")
	ErrNoCapacity = errors.New("not enough free capacity")
	ErrMapped     = errors.New("volume is mapped")
	ErrNoLUN      = errors.New("no free LUN id")
)

// maxLUN is the highest LUN id an initiator group takes (SAM-2: 0..255 in a
// flat space is what most arrays give a host group).
const maxLUN = 255

// Volume is a LUN on the fake array.
type Volume struct {
	ID        string
	Name      string
	SizeBytes int64
	// WWN is the volume's NAA-6 id as hosts see it (vendor-style: NetApp's
	// 600a0980 prefix).
	WWN string
	// MultiNode is whether it was created for access from several nodes.
	MultiNode bool
}

// Mask is one LUN map: a volume presented to a node's initiator group.
type Mask struct {
	Volume, Node string
	// Initiators are the group's WWPNs when the map was made.
	Initiators []string
	LUN        int
	ReadOnly   bool
}

// Array is an in-memory array: volumes, and LUN maps to initiator groups
// (one per node). Its target ports are fixed at creation. It is safe for
// concurrent use.
type Array struct {
	targets  []string
	capacity int64

	mu      sync.Mutex
	next    int
	used    int64
	vols    map[string]Volume
	byName  map[string]string
	maps    map[string]map[string]Mask // volume → node → map
	lunsUse map[string]map[int]string  // node → LUN → volume
}

// NewArray makes an empty array with these target ports (canonical WWPNs)
// and this much capacity.
func NewArray(targets []string, capacityBytes int64) *Array {
	return &Array{
		targets: slices.Clone(targets), capacity: capacityBytes,
		vols: map[string]Volume{}, byName: map[string]string{},
		maps: map[string]map[string]Mask{}, lunsUse: map[string]map[int]string{},
	}
}

// Targets are the array's target port WWPNs.
func (a *Array) Targets() []string { return slices.Clone(a.targets) }

// Create makes a volume of that name, or returns the one that has it
// (existed true: the caller decides whether it fits the request).
func (a *Array) Create(name string, size int64, multiNode bool) (v Volume, existed bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if id, ok := a.byName[name]; ok {
		return a.vols[id], true, nil
	}
	if size > a.capacity-a.used {
		return Volume{}, false, fmt.Errorf("%w: %d bytes asked, %d free", ErrNoCapacity, size, a.capacity-a.used)
	}
	a.next++
	v = Volume{
		ID: fmt.Sprintf("fcv-%06d", a.next), Name: name, SizeBytes: size, MultiNode: multiNode,
		WWN: fmt.Sprintf("600a0980%024x", a.next),
	}
	a.vols[v.ID], a.byName[name] = v, v.ID
	a.used += size
	return v, false, nil
}

// Delete removes a volume that no node has mapped. A volume that does not
// exist is ErrNoVolume.
func (a *Array) Delete(id string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	v, ok := a.vols[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNoVolume, id)
	}
	if m := a.maps[id]; len(m) > 0 {
		return fmt.Errorf("%w: %s is mapped to %s", ErrMapped, id, strings.Join(slices.Sorted(maps.Keys(m)), ", "))
	}
	delete(a.vols, id)
	delete(a.byName, v.Name)
	a.used -= v.SizeBytes
	return nil
}

// Volume returns one volume.
func (a *Array) Volume(id string) (Volume, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	v, ok := a.vols[id]
	return v, ok
}

// Volumes lists every volume by id.
func (a *Array) Volumes() []Volume {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Volume, 0, len(a.vols))
	for _, id := range slices.Sorted(maps.Keys(a.vols)) {
		out = append(out, a.vols[id])
	}
	return out
}

// Capacity is the array's size and what its volumes use.
func (a *Array) Capacity() (total, used int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.capacity, a.used
}

// Map presents the volume to the node's initiator group under the lowest
// LUN id free on that node. A map that exists is returned as it is
// (created false).
func (a *Array) Map(vol, node string, initiators []string, readOnly bool) (m Mask, created bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.vols[vol]; !ok {
		return Mask{}, false, fmt.Errorf("%w: %s", ErrNoVolume, vol)
	}
	if m, ok := a.maps[vol][node]; ok {
		return m, false, nil
	}
	luns := a.lunsUse[node]
	lun := 0
	for ; lun <= maxLUN; lun++ {
		if _, taken := luns[lun]; !taken {
			break
		}
	}
	if lun > maxLUN {
		return Mask{}, false, fmt.Errorf("%w on node %s", ErrNoLUN, node)
	}
	if luns == nil {
		luns = map[int]string{}
		a.lunsUse[node] = luns
	}
	if a.maps[vol] == nil {
		a.maps[vol] = map[string]Mask{}
	}
	m = Mask{Volume: vol, Node: node, Initiators: slices.Clone(initiators), LUN: lun, ReadOnly: readOnly}
	luns[lun] = vol
	a.maps[vol][node] = m
	return m, true, nil
}

// Unmap removes the volume's map to the node; none is no error.
func (a *Array) Unmap(vol, node string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m, ok := a.maps[vol][node]
	if !ok {
		return
	}
	delete(a.maps[vol], node)
	if len(a.maps[vol]) == 0 {
		delete(a.maps, vol)
	}
	delete(a.lunsUse[node], m.LUN)
	if len(a.lunsUse[node]) == 0 {
		delete(a.lunsUse, node)
	}
}

// Maps lists the volume's maps by node; vol "" lists every map, by volume
// and node.
func (a *Array) Maps(vol string) []Mask {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Mask
	for _, v := range slices.Sorted(maps.Keys(a.maps)) {
		if vol != "" && v != vol {
			continue
		}
		for _, n := range slices.Sorted(maps.Keys(a.maps[v])) {
			out = append(out, a.maps[v][n])
		}
	}
	return out
}

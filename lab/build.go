package lab

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// Vendor OUIs the lab's names carry, so that a WWPN read off a name server
// says what kind of device it is, as on a real fabric.
const (
	ouiStorage = 0x0002ac // 3PAR: array target ports and volume WWNs
	ouiTape    = 0x005076 // IBM: tape drives
	ouiEmulex  = 0x0090fa // host HBAs
	ouiQLogic  = 0x0024ff
)

// Numbering spaces. Every family of names gets a seeded base and counts up
// from it, so names differ between seeds yet can never collide within a
// world; the bounds in config.go keep each count inside its space.
const (
	hbaSerialSpace   = 1 << 22 // base below it, leaving 2^22 serials of the 24-bit field
	arraySerialSpace = 1 << 20 // an array's ports are serial<<8 | port: 36-bit vendor part
	tapeSerialSpace  = 1 << 20
	vportBaseSpace   = 1 << 34 // half the 36-bit space left to vports
)

type arrayModel struct {
	name       string
	queueLimit int
}

// Port queue limits of two classes of array (DOMAIN.md: 3,276 on a 3PAR 8G
// port, 2,048 on an IBM FlashSystem port).
var arrayModels = []arrayModel{{"LabStore 8400", 3276}, {"LabStore 5200", 2048}}

// siteData is what a site's switches are built from once every random draw
// has been made, so that they can be built in parallel without changing the
// world a seed makes. Per-fabric slices are by the fabric's index within
// the site, fabricOf(pair, side).
type siteData struct {
	switches       []*Switch
	arrays         []*Array
	arrayOnline    []time.Duration
	host0, vm0     int                 // first index in the hypervisor's tables
	backup         []login             // a backup server per fabric pair, a port on each of its fabrics
	tapes          [][tapeDrives]login // a tape library's drives per fabric
	vmIDs          []string
	hostsN, vmsN   int
	pairs          int
	targetsPerVP   int
	portsPerFabric int
}

// targetPort is the index, among an array's ports on one fabric, of the tth
// target of the array's jth VM on that fabric's pair: consecutive VMs take
// consecutive ports so that initiators spread evenly over the ports.
func targetPort(j, t, ports, targets int) int { return (j*targets + t) % ports }

// pairSlots numbers the VMs of each array on each fabric pair in VM order:
// next(a, k) is how many VMs of array a on pair k came before, the j of
// targetPort. With one pair, the jth VM of array a is VM j*A+a, as before
// pairs existed.
type pairSlots struct {
	pairs int
	n     []int
}

func newPairSlots(arrays, pairs int) pairSlots {
	return pairSlots{pairs: pairs, n: make([]int, arrays*pairs)}
}

func (s pairSlots) next(a, k int) int {
	j := s.n[a*s.pairs+k]
	s.n[a*s.pairs+k]++
	return j
}

func seconds(n int64) time.Duration { return time.Duration(n) * time.Second }

// build draws every random value in one fixed order from the seed, then
// builds the switches, which draw nothing, in parallel.
func build(w *World) error {
	cfg := w.cfg
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x73616e6d6f62))
	hbaSerial := rng.Uint32N(hbaSerialSpace)
	arraySerial := rng.Uint32N(arraySerialSpace) + 1
	tapeSerial := rng.Uint32N(tapeSerialSpace) + 1
	w.vportBase = 2 * rng.Uint64N(vportBaseSpace)
	gen, err := wwn.NewGenerator(nil, wwn.Pool{OUI: wwn.OUIQEMU, First: w.vportBase, Last: 1<<36 - 1})
	if err != nil {
		return err
	}
	w.vports = gen

	S, A, H, V := len(cfg.Sites), cfg.ArraysPerSite, cfg.HostsPerSite, cfg.VMsPerSite
	N, T, P := cfg.TargetPortsPerFabric, cfg.TargetsPerVport, cfg.fabricPairs()
	hv := &Hypervisor{w: w, hosts: make([]host, 0, S*H), vms: make([]vm, 0, S*V)}
	w.hv = hv
	sites := make([]*siteData, S)

	nextHBA := func(vendor int) (wwpn, wwnn wwn.WWN) {
		s := uint64(hbaSerial)
		hbaSerial++
		if vendor == 0 { // Emulex: NAA 1 port, NAA 2 node
			return wwn.FromUint64(0x1000<<48 | ouiEmulex<<24 | s), wwn.FromUint64(0x2000<<48 | ouiEmulex<<24 | s)
		}
		// QLogic: NAA 2 both, the port's vendor nibbles set
		return wwn.FromUint64(0x2100<<48 | ouiQLogic<<24 | s), wwn.FromUint64(0x2000<<48 | ouiQLogic<<24 | s)
	}
	// ago is a whole number of seconds in (0, span] before the epoch.
	ago := func(span time.Duration) time.Duration {
		return -seconds(1 + rng.Int64N(max(int64(span/time.Second), 1)))
	}

	for si, site := range cfg.Sites {
		sd := &siteData{host0: len(hv.hosts), vm0: len(hv.vms), hostsN: H, vmsN: V, pairs: P,
			targetsPerVP: T, portsPerFabric: N}
		sites[si] = sd
		for k := range P {
			for side := range 2 {
				f := fabricOf(k, side)
				s := &Switch{w: w, id: fabricID(site, f), site: site, pair: k, side: side, zoning: zoning{cfgName: cfgName(site, f)}}
				sd.switches = append(sd.switches, s)
				w.switches = append(w.switches, s)
			}
		}

		// Arrays. Per-VM slices are sized up front: a large world's arrays
		// hold tens of thousands of each.
		perArray := (V + A - 1) / A
		var serials []uint64
		for a := range A {
			serial := uint64(arraySerial)
			arraySerial++
			model := arrayModels[rng.IntN(len(arrayModels))]
			id := arrayID(site, a)
			arr := &Array{
				w: w, id: id, site: site,
				info:   array.Info{Name: id, Vendor: labVendor, Model: model.name, Serial: fmt.Sprintf("LAB%07d", serial)},
				ports:  make([]array.TargetPort, 2*P*N),
				vols:   make([]volume, 0, 2*perArray),
				snaps:  make([]snapshot, 0, 3*perArray),
				groups: make([]hostGroup, 0, perArray),
				luns:   make([]lunMap, 0, 2*perArray),
			}
			node := wwn.NAA5(ouiStorage, serial<<8)
			for f := range 2 * P {
				for k := range N {
					// 3PAR-style node:slot:port, one controller node per fabric.
					arr.ports[f*N+k] = array.TargetPort{
						Name: fmt.Sprintf("%d:%d:%d", f, 1+k/4, 1+k%4),
						WWPN: wwn.NAA5(ouiStorage, serial<<8|uint64(f*N+k+1)),
						WWNN: node, QueueLimit: model.queueLimit,
					}
				}
			}
			for p := range 2 {
				arr.pools = append(arr.pools, pool{
					id: poolID(id, p), maxOvercommit: 4, reservedPercent: 5,
					targetOC: 1.5 + rng.Float64(), targetUsed: 0.40 + 0.30*rng.Float64(),
				})
			}
			sd.arrays = append(sd.arrays, arr)
			serials = append(serials, serial)
			sd.arrayOnline = append(sd.arrayOnline, ago(400*24*time.Hour))
			w.arrays = append(w.arrays, arr)
		}
		for a, arr := range sd.arrays {
			// naa.6 <OUI> <36-bit array serial> <64-bit volume number>
			arr.wwnHi = 6<<60 | ouiStorage<<36 | serials[a]
			arr.wwnLo = rng.Uint64() &^ (1<<32 - 1)
		}

		// Hosts.
		hostIDs := idSeq(site+"-esx", width(H, 2), H, "")
		for h := range H {
			vendor := rng.IntN(2)
			x := host{id: hostIDs[h], site: int32(si), pair: int32(h % P), booted: ago(90 * 24 * time.Hour)}
			for side := range 2 {
				p, n := nextHBA(vendor)
				x.hbas[side] = hba{name: fmt.Sprintf("vmhba%d", 2+side), wwpn: p, wwnn: n, maxVports: int32(cfg.MaxVportsPerHBA)}
			}
			hv.hosts = append(hv.hosts, x)
		}

		// VMs, their vports, volumes, snapshots and masking.
		vw := width(V, 3)
		sd.vmIDs = idSeq(site+"-vm", vw, V, "")
		volIDs := [2][]string{idSeq(site+"-vm", vw, V, "-d0"), idSeq(site+"-vm", vw, V, "-d1")}
		groupArena := make([]wwn.WWN, V*(4+2*T))
		slots := newPairSlots(A, P)
		for i := range V {
			hi := sd.host0 + i%H
			x := &hv.hosts[hi]
			a, j := i%A, i/A
			k := int(x.pair)
			jk := slots.next(a, k) // j, with one pair
			arr := sd.arrays[a]
			v := vm{id: sd.vmIDs[i], host: int32(hi), shares: 1000}
			switch rng.IntN(10) {
			case 0:
				v.shares = 2000
			case 1:
				v.shares = 500
			}
			v.poweredOn = x.booted + seconds(rng.Int64N(int64(-x.booted/time.Second)))
			for side := range 2 {
				for s := range 2 {
					pn, nn, err := gen.Pair()
					if err != nil {
						return fmt.Errorf("lab: naming the vports of %s: %w", v.id, err)
					}
					v.vp[side][s] = vport{wwpn: pn, wwnn: nn}
				}
				// Set a runs on the host; set b waits, zoned and masked but
				// logged in nowhere, for a migration to bring it up at the
				// destination while set a still serves the source.
				v.vp[side][0].hba, v.vp[side][0].active = x.hbas[side].wwpn, true
				x.hbas[side].vportsInUse++
			}
			hv.vms = append(hv.vms, v)

			g := int32(len(arr.groups))
			n := 4 + 2*T
			ws := groupArena[:n:n]
			groupArena = groupArena[n:]
			ws[0], ws[1], ws[2], ws[3] = v.vp[0][0].wwpn, v.vp[0][1].wwpn, v.vp[1][0].wwpn, v.vp[1][1].wwpn
			for side := range 2 {
				f := fabricOf(k, side)
				for t := range T {
					ws[4+side*T+t] = arr.ports[f*N+targetPort(jk, t, N, T)].WWPN
				}
			}
			arr.groups = append(arr.groups, hostGroup{name: v.id, wwpns: ws, nInit: 4})

			p := int32(j % 2)
			created := v.poweredOn - seconds(86400*(1+rng.Int64N(365)))
			snap1 := ago(min(7*24*time.Hour, -created-time.Second))
			for d := range 2 {
				const gib, mib = 1 << 30, 1 << 20
				size := int64(40+rng.IntN(461)) * gib
				used := int64(float64(size)*(0.10+0.70*rng.Float64())/mib) * mib
				vi := int32(len(arr.vols))
				id := arr.newWWN(vi)
				arr.vols = append(arr.vols, volume{id: volIDs[d][i], pool: p, group: g, size: size, used: used,
					wwn: id, wwnText: volumeWWN(id), created: created, thin: true, maps: 1})
				pl := &arr.pools[p]
				pl.prov += size
				pl.logical += used
				at := snap1
				for n := range 1 + rng.IntN(2) {
					if n > 0 {
						at += seconds(rng.Int64N(int64(-at / time.Second)))
					}
					su := int64(float64(used)*(0.02+0.13*rng.Float64())/mib) * mib
					arr.snaps = append(arr.snaps, arr.newSnapshot(vi, uint16(n+1), n == 0, su, at))
					pl.logical += su
				}
				arr.luns = append(arr.luns, lunMap{vol: vi, group: g, lun: int32(d), writable: true})
			}
		}
		for _, arr := range sd.arrays {
			for p := range arr.pools {
				arr.pools[p].size()
			}
		}

		// The backup server and the tape library that sanmob must not touch:
		// one of each per fabric pair, on both its fabrics.
		sd.backup, sd.tapes = make([]login, 2*P), make([][tapeDrives]login, 2*P)
		for k := range P {
			vendor := rng.IntN(2)
			for side := range 2 {
				f := fabricOf(k, side)
				p, n := nextHBA(vendor)
				sd.backup[f] = login{wwpn: p, wwnn: n, at: ago(200 * 24 * time.Hour)}
				for d := range tapeDrives {
					s := uint64(tapeSerial) << 4
					tapeSerial++
					sd.tapes[f][d] = login{wwpn: wwn.NAA5(ouiTape, s|1), wwnn: wwn.NAA5(ouiTape, s), target: true,
						at: ago(200 * 24 * time.Hour)}
				}
			}
		}
	}

	var wg sync.WaitGroup
	for _, sd := range sites {
		for _, s := range sd.switches {
			wg.Go(func() { s.build(sd, hv) })
		}
	}
	wg.Wait()
	for _, s := range w.switches {
		if s.size > cfg.ZoneDBMaxBytes {
			return fmt.Errorf("%w: fabric %s needs a %d-byte zone database, more than ZoneDBMaxBytes %d",
				ErrInvalidConfig, s.id, s.size, cfg.ZoneDBMaxBytes)
		}
	}
	return nil
}

// build fills a switch's name server and zone database from its site and
// the hosts and VMs of its fabric pair.
func (s *Switch) build(sd *siteData, hv *Hypervisor) {
	f := fabricOf(s.pair, s.side)
	A, N, T, P := len(sd.arrays), sd.portsPerFabric, sd.targetsPerVP, sd.pairs
	onPair := func(v *vm) bool { return int(hv.hosts[v.host].pair) == s.pair }
	hostsN, vmsN := hostsOnPair(sd.hostsN, P, s.pair), 0
	for i := range sd.vmsN {
		if onPair(&hv.vms[sd.vm0+i]) {
			vmsN++
		}
	}

	// Name server: targets, the backup server and tapes, then the hosts,
	// each on a physical port; every instantiated vport as an FDISC on its
	// host's port.
	s.logins = make([]login, 0, A*N+1+tapeDrives+hostsN+vmsN)
	var port int32
	add := func(l login) {
		l.port = port
		port++
		s.logins = append(s.logins, l)
	}
	for a, arr := range sd.arrays {
		for k := range N {
			p := arr.ports[f*N+k]
			add(login{wwpn: p.WWPN, wwnn: p.WWNN, target: true, at: sd.arrayOnline[a]})
		}
	}
	add(sd.backup[f])
	for _, t := range sd.tapes[f] {
		add(t)
	}
	hostPort0 := port
	s.host0, s.hosts, s.pairs, s.hostPort0 = sd.host0, hostsN, P, hostPort0
	for h := range hostsN {
		x := &hv.hosts[sd.host0+s.pair+h*P]
		add(login{wwpn: x.hbas[s.side].wwpn, wwnn: x.hbas[s.side].wwnn, at: x.booted})
	}
	nextNPIV := make([]uint8, hostsN)
	for i := range sd.vmsN {
		v := &hv.vms[sd.vm0+i]
		if !onPair(v) {
			continue
		}
		h := (int(v.host) - sd.host0) / P // the host's port, less hostPort0
		for _, p := range v.vp[s.side] {
			if p.hba.IsZero() {
				continue
			}
			nextNPIV[h]++
			s.logins = append(s.logins, login{wwpn: p.wwpn, wwnn: p.wwnn, phys: p.hba, at: v.poweredOn,
				port: hostPort0 + int32(h), npiv: nextNPIV[h]})
		}
	}
	slices.SortFunc(s.logins, loginLess)

	// Zones: both sets of every VM of the pair to its targets, then the
	// admin zones.
	nz := vmsN*2*T + len(adminZones)
	s.zones = make([]zone, 0, nz)
	s.members = make([]wwn.WWN, 0, 2*nz)
	// Every name goes into one string: a large fabric has 200,000 of them.
	// The builder is sized for the longest names so it never reallocates,
	// and String hands over its bytes without a copy.
	var names strings.Builder
	size := 0
	if len(sd.vmIDs) > 0 {
		size = (nz - len(adminZones)) * sistZoneNameLen(len(sd.vmIDs[0]), len(sd.arrays[A-1].id))
	}
	for _, z := range adminZones {
		size += len(z.name)
	}
	names.Grow(size)
	ends := make([]int, 0, nz)
	addZone := func(members, principals []wwn.WWN) {
		ends = append(ends, names.Len())
		s.zones = append(s.zones, zone{off: int32(len(s.members)), nm: uint16(len(members)),
			np: uint16(len(principals)), effective: true})
		s.members = append(s.members, members...)
		s.members = append(s.members, principals...)
	}
	var scratch [fabric.MaxZoneNameLen]byte
	slots := newPairSlots(A, 1) // this pair's alone
	for i := range sd.vmsN {
		v := &hv.vms[sd.vm0+i]
		if !onPair(v) {
			continue
		}
		a := i % A
		arr, j := sd.arrays[a], slots.next(a, 0)
		for _, p := range v.vp[s.side] {
			for t := range T {
				tgt := arr.ports[f*N+targetPort(j, t, N, T)].WWPN
				names.Write(fabric.AppendSISTZoneName(scratch[:0], v.id, p.wwpn, arr.id, tgt))
				addZone([]wwn.WWN{p.wwpn, tgt}, nil)
			}
		}
	}
	backup := sd.backup[f].wwpn
	for _, z := range adminZones {
		names.WriteString(z.name)
		if z.drive >= 0 {
			addZone([]wwn.WWN{backup, sd.tapes[f][z.drive].wwpn}, nil)
		} else { // the first array's first port serves the backup server
			addZone([]wwn.WWN{backup}, []wwn.WWN{sd.arrays[0].ports[f*N].WWPN})
		}
	}
	all := names.String()
	prev := 0
	for k := range s.zones {
		s.zones[k].name = all[prev:ends[k]]
		prev = ends[k]
	}
	slices.SortFunc(s.zones, func(a, b zone) int { return strings.Compare(a.name, b.name) })
	if !s.w.rezoned[s.id] {
		s.recomputeChecksum()
	}
}

package lab

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// Switch is the principal switch of one lab fabric: its name server and its
// zone database. A large fabric spans several domains (256 ports each); the
// principal answers for all of them, as a FOS switch does for the fabric.
type Switch struct {
	w    *World
	id   string
	site string
	pair int // the site's fabric pair the switch is of
	side int // 0 = a (c, e, ...), 1 = b (d, f, ...): which HBA of a host of the pair logs in here

	// Where the hosts of the pair log in: the site's hosts pair,
	// pair+pairs, pair+2*pairs... (the hypervisor's host0+pair+i*pairs)
	// on physical ports hostPort0+i, i < hosts. Set by build.
	host0, hosts, pairs int
	hostPort0           int32

	// locked is the fabric lock a commit holds from start to end; a commit
	// that finds it taken is refused as busy, as FOS refuses a second
	// zoning transaction. It is not mu: readers read on meanwhile.
	locked atomic.Bool

	mu      sync.RWMutex
	logins  []login // by port id
	zoning          // replaced whole by a commit
	commits int     // commits that took effect
}

// zoning is a zone database. A commit builds the next one aside, compact,
// from the current one and the transaction, and swaps it in.
type zoning struct {
	cfgName  string
	zones    []zone // by name; Brocade keeps names unique per fabric
	members  []wwn.WWN
	checksum string // of the canonical serialization, kept current on change
	size     int
}

// login is a name-server entry, kept compact because a large fabric holds
// tens of thousands; the strings of fabric.Login are made on read.
type login struct {
	wwpn, wwnn, phys wwn.WWN
	at               time.Duration // virtual, from the epoch
	port             int32         // physical port index across the fabric's domains
	npiv             uint8         // 0 for the FLOGI of the physical port, 1..255 for its FDISCs
	target           bool
}

func (l *login) domain() int { return 1 + int(l.port)/portsPerDomain }
func (l *login) area() int   { return int(l.port) % portsPerDomain }

func loginLess(a, b login) int {
	if a.port != b.port {
		return int(a.port - b.port)
	}
	return int(a.npiv) - int(b.npiv)
}

// zone keeps its members in the switch's members arena — principals right
// after the members — so that 200,000 zones are not 200,000 allocations.
type zone struct {
	name      string
	off       int32
	nm, np    uint16
	effective bool
}

func (db *zoning) zoneMembers(z *zone) []wwn.WWN { return db.members[z.off : z.off+int32(z.nm)] }
func (db *zoning) zonePrincipals(z *zone) []wwn.WWN {
	o := z.off + int32(z.nm)
	return db.members[o : o+int32(z.np)]
}

// ID is the fabric id.
func (s *Switch) ID() string { return s.id }

// Info identifies the switch.
func (s *Switch) Info(ctx context.Context) (fabric.Info, error) {
	if _, err := s.w.fault(ctx, fabric.ErrUnavailable, OpRead, s.id); err != nil {
		return fabric.Info{}, err
	}
	return fabric.Info{Name: s.id, Vendor: labVendor, Firmware: "lab-fos-9.1.0b"}, nil
}

// Logins returns the name server, by port id.
func (s *Switch) Logins(ctx context.Context) ([]fabric.Login, error) {
	if _, err := s.w.fault(ctx, fabric.ErrUnavailable, OpRead, s.id); err != nil {
		return nil, err
	}
	return s.TruthLogins(), nil
}

// ZoneDB returns the zone database.
func (s *Switch) ZoneDB(ctx context.Context) (fabric.ZoneDB, error) {
	if _, err := s.w.fault(ctx, fabric.ErrUnavailable, OpRead, s.id); err != nil {
		return fabric.ZoneDB{}, err
	}
	return s.TruthZoneDB(), nil
}

// ZoneDBChecksum returns the zone DB's checksum alone.
func (s *Switch) ZoneDBChecksum(ctx context.Context) (string, error) {
	if _, err := s.w.fault(ctx, fabric.ErrUnavailable, OpRead, s.id); err != nil {
		return "", err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.checksum, nil
}

// TruthLogins is the name server as it is, never faulted: the lab's own view
// for /lab endpoints and tests.
func (s *Switch) TruthLogins() []fabric.Login {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]fabric.Login, len(s.logins))
	var buf []byte
	for i := range s.logins {
		out[i], buf = s.w.fabricLogin(&s.logins[i], buf)
	}
	return out
}

// fabricLogin is l as the name server shows it; buf is scratch space for
// the switch port, handed back for the next call.
func (w *World) fabricLogin(l *login, buf []byte) (fabric.Login, []byte) {
	kind := fabric.Initiator
	if l.target {
		kind = fabric.Target
	}
	buf = strconv.AppendInt(buf[:0], int64(l.domain()), 10)
	buf = append(buf, ',')
	buf = strconv.AppendInt(buf, int64(l.area()), 10)
	return fabric.Login{
		WWPN:         l.wwpn,
		WWNN:         l.wwnn,
		Kind:         kind,
		NPIV:         l.npiv > 0,
		PhysicalWWPN: l.phys,
		SwitchPort:   string(buf),
		PortID:       fmt.Sprintf("0x%02x%02x%02x", l.domain(), l.area(), l.npiv),
		LoggedInAt:   w.cfg.Epoch.Add(l.at),
	}, buf
}

// TruthZoneDB is the zone database as it is, never faulted. The copy is
// deep: callers may change anything in it.
func (s *Switch) TruthZoneDB() fabric.ZoneDB {
	s.mu.RLock()
	defer s.mu.RUnlock()
	db := fabric.ZoneDB{
		Checksum:     s.checksum,
		EffectiveCfg: s.cfgName,
		Zones:        make([]fabric.Zone, len(s.zones)),
		SizeBytes:    s.size,
		MaxBytes:     s.w.cfg.ZoneDBMaxBytes,
	}
	n, eff := 0, 0
	for i := range s.zones {
		n += int(s.zones[i].nm) + int(s.zones[i].np)
		if s.zones[i].effective {
			eff++
		}
	}
	// One backing array for every zone's names; each zone gets a capped
	// window of it so that an append by the caller reallocates instead of
	// overwriting the next zone.
	arena := make([]wwn.WWN, n)
	db.Effective = make([]string, 0, eff)
	for i := range s.zones {
		z := &s.zones[i]
		m := arena[:z.nm:z.nm]
		copy(m, s.zoneMembers(z))
		arena = arena[z.nm:]
		fz := fabric.Zone{Name: z.name, Members: m}
		if z.np > 0 {
			p := arena[:z.np:z.np]
			copy(p, s.zonePrincipals(z))
			arena = arena[z.np:]
			fz.Principals = p
		}
		db.Zones[i] = fz
		if z.effective {
			db.Effective = append(db.Effective, z.name)
		}
	}
	return db
}

// DeleteZone removes a zone from the defined and the effective configuration
// at once, as another administrator would behind sanmob's back; the checksum
// changes, so a transaction sanmob had begun is refused, as on a real switch.
func (s *Switch) DeleteZone(name string) error {
	s.mu.Lock()
	i, ok := s.findZone(name)
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("lab: zone %q on fabric %s: %w", name, s.id, fabric.ErrNotFound)
	}
	// The members stay in the arena as a hole until the next commit, which
	// builds a compact one; they are few next to the rest.
	s.zones = slices.Delete(s.zones, i, i+1)
	s.recomputeChecksum()
	return s.unlockPersist(&op{Kind: opDelZone, Dev: s.id, At: s.w.now(), Del: []string{name}})
}

func (db *zoning) findZone(name string) (int, bool) {
	return slices.BinarySearchFunc(db.zones, name, func(z zone, n string) int { return strings.Compare(z.name, n) })
}

// recomputeChecksum serializes the zone database canonically (see
// names.go) straight into MD5, never holding the text: a large fabric's runs
// to tens of megabytes. The caller holds the switch's mu for writing or owns
// db alone.
func (db *zoning) recomputeChecksum() {
	h := md5.New()
	size := 0
	buf := make([]byte, 0, 64<<10)
	flush := func() {
		h.Write(buf)
		size += len(buf)
		buf = buf[:0]
	}
	list := func(ws []wwn.WWN) {
		for i, m := range ws {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendWWN(buf, m)
		}
	}
	for i := range db.zones {
		z := &db.zones[i]
		buf = append(buf, "zone "...)
		buf = append(buf, z.name...)
		buf = append(buf, ' ')
		list(db.zoneMembers(z))
		if z.np > 0 {
			buf = append(buf, " principals "...)
			list(db.zonePrincipals(z))
		}
		buf = append(buf, '\n')
		if len(buf) > 60<<10 {
			flush()
		}
	}
	buf = append(buf, "cfg "...)
	buf = append(buf, db.cfgName...)
	buf = append(buf, ' ')
	first := true
	for i := range db.zones {
		if !db.zones[i].effective {
			continue
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = append(buf, db.zones[i].name...)
		if len(buf) > 60<<10 {
			flush()
		}
	}
	buf = append(buf, '\n')
	flush()
	db.checksum = hex.EncodeToString(h.Sum(nil))
	db.size = size
}

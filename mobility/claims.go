package mobility

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// Zoning claims: reachability asked for by CSI drivers sanmob does not
// drive (they mask LUNs on their own arrays) and by orchestrators. A claim
// names initiators and targets; sanmob finds the fabrics where both sides
// are logged in and holds a zone intent for every initiator and target
// that share a fabric, through the same Zoner as attachments — so claims
// and attachments share zones, commit together, and a zone goes only when
// its last user releases it.

// kindClaim is the store kind of claim records, keyed owner/key.
const kindClaim = "zoning-claim"

// sagaClaim is the saga kind of claim changes, keyed owner/key: at most one
// change of a claim runs at a time.
const sagaClaim = "zoning-claim"

// Limits of a claim, so that one request cannot ask for an unbounded zone
// set: a node has a handful of HBAs, an array a few dozen ports.
const (
	MaxClaimPorts = 256 // initiators, and targets, per claim
	MaxClaimPairs = 4096
	maxOwnerLen   = 63
	maxKeyLen     = 256
)

// Claim states.
const (
	ClaimReady   = "ready"   // every zone it needs is committed
	ClaimPending = "pending" // a change of it is running
	ClaimFailed  = "failed"  // a change failed and its undo could not finish
	// ClaimDegraded: a zone of the claim is missing from the switch as last
	// read (removed behind sanmob's back); a repeated PUT repairs it.
	ClaimDegraded = "degraded"
)

// ClaimSpec is a claim's request: every initiator must reach every target
// it shares a fabric with. Policy, when set, is the zone shape the caller
// expects (sist or peer); the fabrics' configured policy decides, and a
// claim whose policy a fabric does not use is refused.
type ClaimSpec struct {
	Initiators []string `json:"initiators"`
	Targets    []string `json:"targets"`
	Policy     string   `json:"policy,omitempty"`
}

// Claim is a zoning claim as the API shows it.
type Claim struct {
	Owner      string        `json:"owner"`
	Key        string        `json:"key"`
	Initiators []wwn.WWN     `json:"initiators"`
	Targets    []wwn.WWN     `json:"targets"`
	Policy     fabric.Policy `json:"policy,omitempty"`
	// Fabrics are those where zones serve the claim, sorted.
	Fabrics []string    `json:"fabrics"`
	Zones   []ClaimZone `json:"zones"`
	// Unreached are the initiators and targets that share no fabric with
	// the other side (a node's HBA on a fabric without the array).
	Unreached []Unreached `json:"unreached"`
	State     string      `json:"state"`
	// LastError and Operation: the run that last changed the claim, and
	// why it failed when State is failed.
	LastError string    `json:"lastError,omitempty"`
	Operation string    `json:"operation,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// ClaimZone is a zone that serves a claim.
type ClaimZone struct {
	Fabric  string    `json:"fabric"`
	Name    string    `json:"name"`
	Members []wwn.WWN `json:"members"`
}

// Unreached is an initiator or a target of a claim that no zone of it
// serves, and why.
type Unreached struct {
	WWPN   wwn.WWN `json:"wwpn"`
	Role   string  `json:"role"` // initiator or target
	Reason string  `json:"reason"`
}

// claimRecord is a claim as stored: the claim (its zones and state are
// not kept: they are read from the Zoner and the runs) and the intents
// held for it.
type claimRecord struct {
	Claim
	Intents []intentRecord `json:"intents"`
}

func claimID(owner, key string) string   { return owner + "/" + key }
func claimUser(owner, key string) string { return "claim:" + owner + "/" + key }

func (r *claimRecord) id() string   { return claimID(r.Owner, r.Key) }
func (r *claimRecord) user() string { return claimUser(r.Owner, r.Key) }

// CheckClaimOwner checks a claim's owner: a CSI driver's name — at most 63
// characters, alphanumerics at both ends, alphanumerics, '-', '.' and '_'
// between.
func CheckClaimOwner(owner string) error {
	if owner == "" {
		return invalid("owner", "required")
	}
	if len(owner) > maxOwnerLen {
		return invalid("owner", "%d characters, more than %d", len(owner), maxOwnerLen)
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	for i := 0; i < len(owner); i++ {
		if c := owner[i]; !alnum(c) && c != '-' && c != '.' && c != '_' {
			return invalid("owner", "%q has byte %#02x at %d; a CSI driver name is ASCII letters, digits, '-', '.' and '_'", owner, c, i)
		}
	}
	if !alnum(owner[0]) || !alnum(owner[len(owner)-1]) {
		return invalid("owner", "%q must begin and end with a letter or digit (a CSI driver name)", owner)
	}
	return nil
}

// CheckClaimKey checks a claim's key: 1–256 bytes of one or more non-empty
// segments separated by '/' ("volume/node" by convention), none "." or
// "..", without whitespace or control characters.
func CheckClaimKey(key string) error {
	if key == "" {
		return invalid("key", "required")
	}
	if len(key) > maxKeyLen {
		return invalid("key", "%d bytes, more than %d", len(key), maxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c >= 0x7f {
			// Printable ASCII only: CSI volume and node ids are, and a
			// Unicode space, bidi override or zero-width character would
			// make two keys look alike in a list, a log or an alert.
			return invalid("key", "has byte %#02x at %d; a key is printable ASCII without spaces", c, i)
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return invalid("key", "%q has an empty segment (a leading, trailing or double '/')", key)
		case ".", "..":
			return invalid("key", "%q has a %q segment", key, seg)
		}
	}
	return nil
}

// parsedClaim is a checked spec: WWPNs canonical, sorted, without repeats.
type parsedClaim struct {
	owner, key string
	inits      []wwn.WWN
	tgts       []wwn.WWN
	policy     fabric.Policy
}

func parseClaim(owner, key string, spec ClaimSpec) (parsedClaim, error) {
	if err := CheckClaimOwner(owner); err != nil {
		return parsedClaim{}, err
	}
	if err := CheckClaimKey(key); err != nil {
		return parsedClaim{}, err
	}
	pc := parsedClaim{owner: owner, key: key}
	var err error
	if pc.inits, err = parsePorts("initiators", spec.Initiators); err != nil {
		return parsedClaim{}, err
	}
	if pc.tgts, err = parsePorts("targets", spec.Targets); err != nil {
		return parsedClaim{}, err
	}
	for _, t := range pc.tgts {
		if _, found := slices.BinarySearchFunc(pc.inits, t, wwn.WWN.Compare); found {
			return parsedClaim{}, invalid("targets", "%s is also an initiator", t)
		}
	}
	if n := len(pc.inits) * len(pc.tgts); n > MaxClaimPairs {
		return parsedClaim{}, invalid("targets", "%d initiators × %d targets is %d pairs, more than %d", len(pc.inits), len(pc.tgts), n, MaxClaimPairs)
	}
	switch p := fabric.Policy(spec.Policy); p {
	case "", fabric.SIST, fabric.PeerZones:
		pc.policy = p
	default:
		return parsedClaim{}, invalid("policy", "%q: want %q or %q, or none for the fabric's own", spec.Policy, fabric.SIST, fabric.PeerZones)
	}
	return pc, nil
}

func parsePorts(field string, in []string) ([]wwn.WWN, error) {
	if len(in) == 0 {
		return nil, invalid(field, "at least one WWPN is required")
	}
	if len(in) > 4*MaxClaimPorts {
		return nil, invalid(field, "%d WWPNs, more than %d even with repeats", len(in), 4*MaxClaimPorts)
	}
	out := make([]wwn.WWN, 0, len(in))
	for i, s := range in {
		w, err := wwn.Parse(s)
		if err != nil {
			return nil, invalid(fmt.Sprintf("%s[%d]", field, i), "%v", err)
		}
		out = append(out, w)
	}
	slices.SortFunc(out, wwn.WWN.Compare)
	out = slices.Compact(out)
	if len(out) > MaxClaimPorts {
		return nil, invalid(field, "%d distinct WWPNs, more than %d", len(out), MaxClaimPorts)
	}
	return out, nil
}

// claimPlanOf decides a claim's intents from the fabrics' last reads: on
// each fabric, every initiator logged in there with every target logged in
// there. A port logged in nowhere gets the fabrics read again once (a
// login may be newer than the last read) before it is refused.
func (s *Service) claimPlanOf(ctx context.Context, pc parsedClaim, old *claimRecord) (claimRecord, error) {
	rec, missing, unread, err := s.claimOnFabrics(pc, old)
	if err != nil {
		return claimRecord{}, err
	}
	if len(missing) > 0 {
		for _, id := range s.fabIDs {
			c, cancel := context.WithTimeout(ctx, s.cfg.DriverTimeout)
			_, _ = s.dev.ReadFabric(c, s.fabrics[id])
			cancel()
		}
		if rec, missing, unread, err = s.claimOnFabrics(pc, old); err != nil {
			return claimRecord{}, err
		}
	}
	switch {
	case len(missing) > 0 && len(unread) > 0:
		return claimRecord{}, fmt.Errorf("%s logged in on no fabric read so far (%s not read yet): %w",
			portList(missing), strings.Join(unread, ", "), ErrUnavailable)
	case len(missing) > 0 && len(rec.Intents) == 0:
		return claimRecord{}, fmt.Errorf("%s logged in on no fabric; check the WWPNs and that the ports are up: %w", portList(missing), ErrNotFeasible)
	}
	if len(rec.Intents) == 0 {
		return claimRecord{}, fmt.Errorf("no initiator shares a fabric with a target: %s: %w", unreachedList(rec.Unreached), ErrConflict)
	}
	if pc.policy != "" {
		for _, fid := range rec.Fabrics {
			if p, _ := s.zoner.Policy(fid); p != pc.policy {
				return claimRecord{}, fmt.Errorf("fabric %s zones with policy %q, the claim asks for %q; a fabric's policy is its configuration (zonePolicies): %w", fid, p, pc.policy, ErrConflict)
			}
		}
	}
	return rec, nil
}

// claimOnFabrics places a claim's ports on the fabrics as last read: the
// record with its intents, fabrics and unreached ports, the ports logged in
// on no fabric, and the fabrics not read yet. A port logged in nowhere that
// the claim's previous record (old, nil for a new claim) placed keeps that
// place: a port down for a while (an array controller's failover, an HBA
// reset) keeps its zones, and a repeated request stays a no-op. One never
// placed reaches nothing: it is missing, and listed as unreached.
func (s *Service) claimOnFabrics(pc parsedClaim, old *claimRecord) (rec claimRecord, missing []wwn.WWN, unread []string, err error) {
	rec = claimRecord{Claim: Claim{Owner: pc.owner, Key: pc.key, Initiators: pc.inits, Targets: pc.tgts, Policy: pc.policy,
		Fabrics: []string{}, Unreached: []Unreached{}}, Intents: []intentRecord{}}
	onFabric := map[wwn.WWN][]string{} // a port → the fabrics it is logged in on
	var wrong []string                 // ports the name server knows in the other role
	for _, id := range s.fabIDs {
		o := s.fabrics[id].Obs.Load()
		if o == nil {
			unread = append(unread, id)
			continue
		}
		for _, w := range pc.inits {
			if l, ok := o.Login(w); ok {
				onFabric[w] = append(onFabric[w], id)
				if l.Kind == fabric.Target {
					wrong = append(wrong, fmt.Sprintf("initiator %s is a target port on %s", w, id))
				}
			}
		}
		for _, w := range pc.tgts {
			if l, ok := o.Login(w); ok {
				onFabric[w] = append(onFabric[w], id)
				if l.Kind == fabric.Initiator {
					wrong = append(wrong, fmt.Sprintf("target %s is an initiator port on %s", w, id))
				}
			}
		}
	}
	for _, w := range slices.Concat(pc.inits, pc.tgts) {
		if len(onFabric[w]) > 0 {
			continue
		}
		if old != nil {
			for _, in := range old.Intents {
				if (in.Initiator == w || in.Target == w) && !slices.Contains(onFabric[w], in.Fabric) {
					onFabric[w] = append(onFabric[w], in.Fabric)
				}
			}
		}
		if len(onFabric[w]) == 0 {
			missing = append(missing, w)
		}
	}
	if len(wrong) > 0 {
		// Zoning a target as an initiator (or two initiators together)
		// is never what a driver means, and a reversed pair would share
		// its zone with the pair the right way round.
		return rec, nil, unread, fmt.Errorf("the name server says otherwise: %s: %w", strings.Join(wrong, "; "), ErrConflict)
	}
	iniLabel, tgtLabel := s.claimLabels(pc)
	reached := map[wwn.WWN]bool{}
	fabrics := map[string]bool{}
	for _, ini := range pc.inits {
		for _, fid := range onFabric[ini] {
			for _, t := range pc.tgts {
				if !slices.Contains(onFabric[t], fid) {
					continue
				}
				rec.Intents = append(rec.Intents, intentRecord{Fabric: fid, Initiator: ini, Target: t,
					InitiatorLabel: iniLabel[ini], TargetLabel: tgtLabel[t]})
				reached[ini], reached[t], fabrics[fid] = true, true, true
			}
		}
	}
	slices.SortFunc(rec.Intents, compareIntents)
	rec.Fabrics = sortedKeys(fabrics)
	why := func(w wwn.WWN, other string) string {
		if len(onFabric[w]) == 0 {
			return "logged in on no fabric (a port that is down, or a wrong WWPN)"
		}
		return "logged in on " + strings.Join(onFabric[w], ", ") + ", where no " + other + " of the claim is"
	}
	for _, w := range pc.inits {
		if !reached[w] {
			rec.Unreached = append(rec.Unreached, Unreached{WWPN: w, Role: "initiator", Reason: why(w, "target")})
		}
	}
	for _, w := range pc.tgts {
		if !reached[w] {
			rec.Unreached = append(rec.Unreached, Unreached{WWPN: w, Role: "target", Reason: why(w, "initiator")})
		}
	}
	return rec, missing, unread, nil
}

// claimLabels names a claim's zones for the people reading the zone DB:
// an initiator by the host or VM the inventory knows it as, else by the
// key's last segment (the node, by the convention volume/node); a target
// by its array, else by the owner.
func (s *Service) claimLabels(pc parsedClaim) (ini, tgt map[wwn.WWN]string) {
	node := pc.key[strings.LastIndexByte(pc.key, '/')+1:]
	ini = make(map[wwn.WWN]string, len(pc.inits))
	s.RLock()
	for _, w := range pc.inits {
		ini[w] = node
		if o, ok := s.OwnerLocked(w); ok {
			ini[w] = o[strings.IndexByte(o, '/')+1:]
		}
	}
	s.RUnlock()
	tgt = make(map[wwn.WWN]string, len(pc.tgts))
	for _, w := range pc.tgts {
		tgt[w] = pc.owner
		for _, id := range s.arrIDs {
			if o := s.arrays[id].Obs.Load(); o != nil {
				if _, ok := o.PortIdx[w]; ok {
					tgt[w] = id
					break
				}
			}
		}
	}
	return ini, tgt
}

func compareIntents(a, b intentRecord) int {
	return cmp.Or(strings.Compare(a.Fabric, b.Fabric), a.Initiator.Compare(b.Initiator), a.Target.Compare(b.Target))
}

// sameIntents reports whether two sorted intent lists ask for the same
// pairs (labels aside).
func sameIntents(a, b []intentRecord) bool {
	return slices.EqualFunc(a, b, func(x, y intentRecord) bool { return compareIntents(x, y) == 0 })
}

// minusIntents is a without the pairs of b.
func minusIntents(a, b []intentRecord) []intentRecord {
	var out []intentRecord
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y intentRecord) bool { return compareIntents(x, y) == 0 }) {
			out = append(out, x)
		}
	}
	return out
}

// portList names the ports, at most ten and then how many more: an error
// ends up in a gRPC status and an event, not a report.
func portList(ws []wwn.WWN) string {
	ss := make([]string, 0, min(len(ws), 10))
	for _, w := range ws[:min(len(ws), 10)] {
		ss = append(ss, w.String())
	}
	if len(ws) > 10 {
		ss = append(ss, fmt.Sprintf("and %d more", len(ws)-10))
	}
	return strings.Join(ss, ", ")
}

func unreachedList(us []Unreached) string {
	ss := make([]string, 0, min(len(us), 10))
	for _, u := range us[:min(len(us), 10)] {
		ss = append(ss, u.Role+" "+u.WWPN.String()+" "+u.Reason)
	}
	if len(us) > 10 {
		ss = append(ss, fmt.Sprintf("and %d more", len(us)-10))
	}
	return strings.Join(ss, "; ")
}

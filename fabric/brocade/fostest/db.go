package fostest

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/sanmob/sanmob/fabric"
)

// DB is a zone database as an administrator edits it: the defined
// configuration and the name of the configuration that is enabled.
type DB struct {
	Cfgs    map[string][]string // configuration name → member zone names
	Zones   map[string]Zone
	Aliases map[string][]string // alias name → WWNs and "D,I" port members
	// Effective names the enabled configuration; "" when zoning is disabled.
	Effective string
}

// Zone is a defined zone. Members and Principals are WWNs
// ("10:00:00:90:fa:12:34:56"), "D,I" port members or alias names.
type Zone struct {
	Type       int // 0 zone, 1 user-created peer zone, 2 target-created peer zone
	Members    []string
	Principals []string
}

// Zone types as brocade-zone.yang numbers and names them.
const (
	typeZone = iota
	typePeer
	typeTargetPeer
)

var typeNames = [...]string{"zone", "user-created-peer-zone", "target-created-peer-zone"}

func newDB() DB {
	return DB{Cfgs: map[string][]string{}, Zones: map[string]Zone{}, Aliases: map[string][]string{}}
}

func (db DB) clone() DB {
	c := DB{Cfgs: make(map[string][]string, len(db.Cfgs)), Zones: make(map[string]Zone, len(db.Zones)),
		Aliases: make(map[string][]string, len(db.Aliases)), Effective: db.Effective}
	for k, v := range db.Cfgs {
		c.Cfgs[k] = slices.Clone(v)
	}
	for k, v := range db.Zones {
		c.Zones[k] = Zone{Type: v.Type, Members: slices.Clone(v.Members), Principals: slices.Clone(v.Principals)}
	}
	for k, v := range db.Aliases {
		c.Aliases[k] = slices.Clone(v)
	}
	return c
}

// The JSON of brocade-zone's containers, as the YANG names the leaves. The
// same shapes carry requests and replies.
type (
	definedJSON struct {
		Cfgs    []cfgJSON   `json:"cfg,omitempty"`
		Zones   []zoneJSON  `json:"zone,omitempty"`
		Aliases []aliasJSON `json:"alias,omitempty"`
	}
	cfgJSON struct {
		Name   string      `json:"cfg-name"`
		Member *memberZone `json:"member-zone,omitempty"`
	}
	memberZone struct {
		Zones []string `json:"zone-name"`
	}
	zoneJSON struct {
		Name       string       `json:"zone-name"`
		Type       *int         `json:"zone-type,omitempty"`
		TypeString string       `json:"zone-type-string,omitempty"`
		Member     *memberEntry `json:"member-entry,omitempty"`
	}
	memberEntry struct {
		Entries    []string `json:"entry-name,omitempty"`
		Principals []string `json:"principal-entry-name,omitempty"`
	}
	aliasJSON struct {
		Name   string       `json:"alias-name"`
		Member *aliasMember `json:"member-entry,omitempty"`
	}
	aliasMember struct {
		Entries []string `json:"alias-entry-name"`
	}
)

func zoneToJSON(name string, z Zone) zoneJSON {
	t := z.Type
	return zoneJSON{Name: name, Type: &t, TypeString: typeNames[t],
		Member: &memberEntry{Entries: z.Members, Principals: z.Principals}}
}

// defined renders the defined configuration in name order, which also makes
// it the canonical form that the checksum and the size are taken of.
func (db DB) defined() definedJSON {
	var d definedJSON
	for _, n := range slices.Sorted(maps.Keys(db.Cfgs)) {
		d.Cfgs = append(d.Cfgs, cfgJSON{Name: n, Member: &memberZone{Zones: db.Cfgs[n]}})
	}
	for _, n := range slices.Sorted(maps.Keys(db.Zones)) {
		d.Zones = append(d.Zones, zoneToJSON(n, db.Zones[n]))
	}
	for _, n := range slices.Sorted(maps.Keys(db.Aliases)) {
		d.Aliases = append(d.Aliases, aliasJSON{Name: n, Member: &aliasMember{Entries: db.Aliases[n]}})
	}
	return d
}

// size is the defined configuration's size in bytes, the emulator's stand-in
// for what FOS stores in nonvolatile memory.
func (db DB) size() int {
	b, _ := json.Marshal(db.defined())
	return len(b)
}

// checksum is the MD5 of the whole zone DB — defined configuration, the
// enabled configuration's name and its zones — so that any committed change
// of either changes it, as FOS's does.
func checksum(db DB, enabled []zoneJSON) string {
	h := md5.New()
	b, _ := json.Marshal(db.defined())
	h.Write(b)
	fmt.Fprintf(h, "\x00%s\x00", db.Effective)
	b, _ = json.Marshal(enabled)
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// enable returns the effective configuration cfg makes: its zones with the
// aliases expanded, as FOS copies them at enable time.
func (db DB) enable(cfg string) []zoneJSON {
	out := make([]zoneJSON, 0, len(db.Cfgs[cfg]))
	for _, n := range db.Cfgs[cfg] {
		z := db.Zones[n]
		z.Members, z.Principals = db.expand(z.Members), db.expand(z.Principals)
		out = append(out, zoneToJSON(n, z))
	}
	return out
}

func (db DB) expand(members []string) []string {
	var out []string
	for _, m := range members {
		if a, ok := db.Aliases[m]; ok {
			out = append(out, a...)
		} else {
			out = append(out, m)
		}
	}
	return out
}

// Refusals, as RESTCONF tags them (RFC 8040 section 7 gives the statuses).
func invalid(path, format string, a ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Tag: "invalid-value", Message: fmt.Sprintf(format, a...), Path: path}
}

func exists(path, format string, a ...any) *Error {
	return &Error{Status: http.StatusConflict, Tag: "data-exists", Message: fmt.Sprintf(format, a...), Path: path}
}

func missing(path, format string, a ...any) *Error {
	return &Error{Status: http.StatusNotFound, Tag: "data-missing", Message: fmt.Sprintf(format, a...), Path: path}
}

const definedPath = "/brocade-zone/defined-configuration"

func zonePath(n string) string  { return definedPath + "/zone/zone-name/" + n }
func cfgPath(n string) string   { return definedPath + "/cfg/cfg-name/" + n }
func aliasPath(n string) string { return definedPath + "/alias/alias-name/" + n }

func checkName(path, name string) *Error {
	if err := fabric.CheckZoneName(name); err != nil {
		return invalid(path, "%v", err)
	}
	return nil
}

// isWWN is fibrechannel:wwn-type: eight colon-separated hex pairs.
func isWWN(s string) bool {
	if len(s) != 23 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if i%3 == 2 {
			if c != ':' {
				return false
			}
		} else if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// isDomainIndex is brocade-zone's domain-index-type: domain 1–239, index
// -1–65535.
func isDomainIndex(s string) bool {
	d, i, ok := strings.Cut(s, ",")
	if !ok {
		return false
	}
	dv, err1 := strconv.Atoi(d)
	iv, err2 := strconv.Atoi(i)
	return err1 == nil && err2 == nil && 1 <= dv && dv <= 239 && -1 <= iv && iv <= 65535
}

// kind names what already uses name: zone, alias and configuration names
// share one namespace.
func (db DB) kind(name string) string {
	if _, ok := db.Zones[name]; ok {
		return "zone"
	}
	if _, ok := db.Aliases[name]; ok {
		return "alias"
	}
	if _, ok := db.Cfgs[name]; ok {
		return "cfg"
	}
	return ""
}

func checkAlias(name string, members []string) *Error {
	p := aliasPath(name)
	if e := checkName(p, name); e != nil {
		return e
	}
	if len(members) == 0 {
		return invalid(p, "alias %s has no members", name)
	}
	for i, m := range members {
		if !isWWN(m) && !isDomainIndex(m) {
			return invalid(p, "alias %s: member %q is neither a WWN nor D,I", name, m)
		}
		if slices.Contains(members[:i], m) {
			return invalid(p, "alias %s: member %s is listed twice", name, m)
		}
	}
	return nil
}

func (db DB) checkZone(name string, z Zone) *Error {
	p := zonePath(name)
	if e := checkName(p, name); e != nil {
		return e
	}
	if z.Type < typeZone || z.Type > typeTargetPeer {
		return invalid(p, "zone %s: zone-type %d is not 0, 1 or 2", name, z.Type)
	}
	if len(z.Members) == 0 {
		return invalid(p, "zone %s has no members", name)
	}
	switch {
	case z.Type == typeZone && len(z.Principals) > 0:
		return invalid(p, "zone %s: principal members are for peer zones only (zone-type 1)", name)
	case z.Type != typeZone && len(z.Principals) == 0:
		return invalid(p, "peer zone %s has no principal members", name)
	}
	all := append(slices.Clip(z.Members), z.Principals...)
	for i, m := range all {
		if _, alias := db.Aliases[m]; !alias && !isWWN(m) && !isDomainIndex(m) {
			return invalid(p, "zone %s: member %q is not a WWN, a D,I or a defined alias", name, m)
		}
		if slices.Contains(all[:i], m) {
			return invalid(p, "zone %s: member %s is listed twice", name, m)
		}
	}
	return nil
}

func (db DB) checkCfg(name string, zones []string) *Error {
	p := cfgPath(name)
	if e := checkName(p, name); e != nil {
		return e
	}
	if len(zones) == 0 {
		return invalid(p, "cfg %s has no member zones", name)
	}
	for i, z := range zones {
		if _, ok := db.Zones[z]; !ok {
			return invalid(p, "cfg %s: member zone %s is not defined", name, z)
		}
		if slices.Contains(zones[:i], z) {
			return exists(p, "cfg %s: zone %s is already a member", name, z)
		}
	}
	return nil
}

// validate checks a whole DB, as an administrator's commit must pass the
// same rules as a REST client's.
func (db DB) validate() *Error {
	seen := map[string]string{}
	claim := func(kind, name, path string) *Error {
		if k, ok := seen[name]; ok {
			return exists(path, "%s %s: the name is already used by a %s", kind, name, k)
		}
		seen[name] = kind
		return nil
	}
	for _, n := range slices.Sorted(maps.Keys(db.Aliases)) {
		if e := first(claim("alias", n, aliasPath(n)), checkAlias(n, db.Aliases[n])); e != nil {
			return e
		}
	}
	for _, n := range slices.Sorted(maps.Keys(db.Zones)) {
		if e := first(claim("zone", n, zonePath(n)), db.checkZone(n, db.Zones[n])); e != nil {
			return e
		}
	}
	for _, n := range slices.Sorted(maps.Keys(db.Cfgs)) {
		if e := first(claim("cfg", n, cfgPath(n)), db.checkCfg(n, db.Cfgs[n])); e != nil {
			return e
		}
	}
	if _, ok := db.Cfgs[db.Effective]; db.Effective != "" && !ok {
		return invalid(cfgPath(db.Effective), "cfg %s is not defined", db.Effective)
	}
	return nil
}

func first(es ...*Error) *Error {
	for _, e := range es {
		if e != nil {
			return e
		}
	}
	return nil
}

// create applies a POST: aliases, then zones (which may name them), then
// configurations (which name zones). A configuration that exists gains the
// member zones listed.
func (db DB) create(d definedJSON) *Error {
	for _, a := range d.Aliases {
		var members []string
		if a.Member != nil {
			members = a.Member.Entries
		}
		if k := db.kind(a.Name); k != "" {
			return exists(aliasPath(a.Name), "alias %s: the name is already used by a %s", a.Name, k)
		}
		if e := checkAlias(a.Name, members); e != nil {
			return e
		}
		db.Aliases[a.Name] = slices.Clone(members)
	}
	for _, zj := range d.Zones {
		z, e := zoneFromJSON(zj)
		if e != nil {
			return e
		}
		if k := db.kind(zj.Name); k != "" {
			return exists(zonePath(zj.Name), "zone %s: the name is already used by a %s", zj.Name, k)
		}
		if e := db.checkZone(zj.Name, z); e != nil {
			return e
		}
		db.Zones[zj.Name] = z
	}
	for _, c := range d.Cfgs {
		var add []string
		if c.Member != nil {
			add = c.Member.Zones
		}
		cur, ok := db.Cfgs[c.Name]
		if !ok {
			if k := db.kind(c.Name); k != "" {
				return exists(cfgPath(c.Name), "cfg %s: the name is already used by a %s", c.Name, k)
			}
		}
		if len(add) == 0 {
			return invalid(cfgPath(c.Name), "cfg %s: no member zones given", c.Name)
		}
		next := append(slices.Clip(cur), add...)
		if e := db.checkCfg(c.Name, next); e != nil {
			return e
		}
		db.Cfgs[c.Name] = next
	}
	return nil
}

// zoneFromJSON reads a zone a client writes. Target-created peer zones are
// made by targets, never through REST.
func zoneFromJSON(zj zoneJSON) (Zone, *Error) {
	p := zonePath(zj.Name)
	var z Zone
	if zj.Type != nil {
		z.Type = *zj.Type
	}
	if zj.TypeString != "" {
		t := slices.Index(typeNames[:], zj.TypeString)
		switch {
		case t < 0:
			return z, invalid(p, "zone %s: unknown zone-type-string %q", zj.Name, zj.TypeString)
		case zj.Type != nil && t != z.Type:
			return z, invalid(p, "zone %s: zone-type %d and zone-type-string %q disagree", zj.Name, z.Type, zj.TypeString)
		}
		z.Type = t
	}
	if z.Type == typeTargetPeer {
		return z, invalid(p, "zone %s: target-created peer zones cannot be created or modified", zj.Name)
	}
	if zj.Member != nil {
		z.Members, z.Principals = slices.Clone(zj.Member.Entries), slices.Clone(zj.Member.Principals)
	}
	return z, nil
}

// remove applies a DELETE: configurations (or members of them) first, then
// zones, then aliases. A configuration left without members is deleted, as
// FOS deletes an object whose last member is removed.
func (db DB) remove(d definedJSON) *Error {
	for _, c := range d.Cfgs {
		cur, ok := db.Cfgs[c.Name]
		if !ok {
			return missing(cfgPath(c.Name), "cfg %s is not defined", c.Name)
		}
		if c.Member == nil {
			delete(db.Cfgs, c.Name)
			continue
		}
		for _, z := range c.Member.Zones {
			i := slices.Index(cur, z)
			if i < 0 {
				return missing(cfgPath(c.Name), "zone %s is not a member of cfg %s", z, c.Name)
			}
			cur = slices.Delete(cur, i, i+1)
		}
		if len(cur) == 0 {
			delete(db.Cfgs, c.Name)
		} else {
			db.Cfgs[c.Name] = cur
		}
	}
	for _, z := range d.Zones {
		p := zonePath(z.Name)
		if z.Member != nil {
			return &Error{Status: http.StatusBadRequest, Tag: "operation-not-supported", Path: p,
				Message: "removing members from a zone is not emulated; delete the zone and create it again"}
		}
		if _, ok := db.Zones[z.Name]; !ok {
			return missing(p, "zone %s is not defined", z.Name)
		}
		for _, c := range slices.Sorted(maps.Keys(db.Cfgs)) {
			if slices.Contains(db.Cfgs[c], z.Name) {
				return invalid(p, "zone %s is a member of cfg %s; remove it from the cfg first", z.Name, c)
			}
		}
		delete(db.Zones, z.Name)
	}
	for _, a := range d.Aliases {
		p := aliasPath(a.Name)
		if _, ok := db.Aliases[a.Name]; !ok {
			return missing(p, "alias %s is not defined", a.Name)
		}
		for _, zn := range slices.Sorted(maps.Keys(db.Zones)) {
			z := db.Zones[zn]
			if slices.Contains(z.Members, a.Name) || slices.Contains(z.Principals, a.Name) {
				return invalid(p, "alias %s is a member of zone %s", a.Name, zn)
			}
		}
		delete(db.Aliases, a.Name)
	}
	return nil
}

package brocade

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// The JSON of the FOS modules read and written here, with the YANG's leaf
// names. A reply wraps its container in "Response".

type response[T any] struct {
	Response T `json:"Response"`
}

// The replies read.
type (
	definedReply = response[struct {
		Defined definedConfiguration `json:"defined-configuration"`
	}]
	effectiveReply = response[struct {
		Effective effectiveConfiguration `json:"effective-configuration"`
	}]
	nameServerReply = response[struct {
		Entries list[nameServerEntry] `json:"fibrechannel-name-server"`
	}]
	switchReply = response[struct {
		Switch list[fcSwitch] `json:"fibrechannel-switch"`
	}]
)

// list is a YANG list or leaf-list, decoded leniently: a lone object or
// value is taken as a list of one, so that JSON converted from XML (where a
// one-entry list and a single element look alike) does not fail a whole
// read.
type list[T any] []T

func (l *list[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*l = nil
		return nil
	case len(b) > 0 && b[0] == '[':
		var s []T
		err := json.Unmarshal(b, &s)
		*l = s
		return err
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*l = list[T]{v}
	return nil
}

// num is a YANG integer leaf, taken as a JSON number or, as XML-converted
// JSON has it, a numeric string.
type num int64

func (n *num) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer: %s", b)
	}
	*n = num(v)
	return nil
}

// brocade-zone.
type (
	definedConfiguration struct {
		Cfgs    list[cfgEntry]   `json:"cfg,omitempty"`
		Zones   list[zoneEntry]  `json:"zone,omitempty"`
		Aliases list[aliasEntry] `json:"alias,omitempty"`
	}
	cfgEntry struct {
		Name    string      `json:"cfg-name"`
		Members *memberZone `json:"member-zone,omitempty"`
	}
	memberZone struct {
		Zones list[string] `json:"zone-name"`
	}
	zoneEntry struct {
		Name string `json:"zone-name"`
		// zone-type is deprecated in FOS 9 in favour of zone-type-string,
		// which FOS 8.2 does not know; zone-type is what both accept.
		Type    *num         `json:"zone-type,omitempty"`
		TypeStr string       `json:"zone-type-string,omitempty"`
		Members *memberEntry `json:"member-entry,omitempty"`
	}
	memberEntry struct {
		Entries    list[string] `json:"entry-name,omitempty"`
		Principals list[string] `json:"principal-entry-name,omitempty"`
	}
	aliasEntry struct {
		Name    string `json:"alias-name"`
		Members struct {
			Entries list[string] `json:"alias-entry-name"`
		} `json:"member-entry"`
	}
	effectiveConfiguration struct {
		CfgName     string          `json:"cfg-name"`
		Checksum    string          `json:"checksum"`
		DBMax       num             `json:"db-max"`
		DBCommitted num             `json:"db-committed"`
		Enabled     list[zoneEntry] `json:"enabled-zone"`
	}
	// effectivePatch enables (cfg-name), saves (cfg-action 1) or aborts
	// (cfg-action 4).
	effectivePatch struct {
		CfgName   string `json:"cfg-name,omitempty"`
		Checksum  string `json:"checksum,omitempty"`
		CfgAction int    `json:"cfg-action,omitempty"`
	}
)

// Zone types (brocade-zone.yang zone-type-type).
const (
	zoneTypeStandard = 0
	zoneTypePeer     = 1 // user-created peer zone
	zoneTypeTarget   = 2 // target-created peer zone
)

// peer reports whether z is a peer zone of either kind.
func (z zoneEntry) peer() bool {
	if z.Type != nil {
		return *z.Type == zoneTypePeer || *z.Type == zoneTypeTarget
	}
	return strings.HasSuffix(z.TypeStr, "peer-zone")
}

// toZoneEntry is the zone as a create request carries it.
func toZoneEntry(z fabric.Zone) zoneEntry {
	t := num(zoneTypeStandard)
	m := &memberEntry{Entries: wwnStrings(z.Members)}
	if z.Peer() {
		t, m.Principals = zoneTypePeer, wwnStrings(z.Principals)
	}
	return zoneEntry{Name: z.Name, Type: &t, Members: m}
}

func wwnStrings(ws []wwn.WWN) list[string] {
	out := make(list[string], len(ws))
	for i, w := range ws {
		out[i] = w.String()
	}
	return out
}

// toZone is fabric's view of a zone: aliases expanded to their WWNs. Port
// members ("D,I") and names that are neither a WWN nor an alias have no
// WWN and are left out; skipped counts them.
func toZone(z zoneEntry, aliases map[string][]wwn.WWN) (_ fabric.Zone, skipped int) {
	out := fabric.Zone{Name: z.Name}
	if z.Members == nil {
		return out, 0
	}
	resolve := func(entries list[string]) []wwn.WWN {
		var ws []wwn.WWN
		for _, e := range entries {
			if a, ok := aliases[e]; ok {
				ws = append(ws, a...)
			} else if w, err := wwn.Parse(e); err == nil && strings.Contains(e, ":") {
				ws = append(ws, w)
			} else {
				skipped++
			}
		}
		return ws
	}
	out.Members = resolve(z.Members.Entries)
	if z.peer() {
		out.Principals = resolve(z.Members.Principals)
	}
	return out, skipped
}

// zoneDB is fabric's view of the two containers; skipped counts the members
// left out (see toZone).
func zoneDB(def definedConfiguration, eff effectiveConfiguration) (_ fabric.ZoneDB, skipped int) {
	aliases := make(map[string][]wwn.WWN, len(def.Aliases))
	for _, a := range def.Aliases {
		var ws []wwn.WWN
		for _, e := range a.Members.Entries {
			if w, err := wwn.Parse(e); err == nil {
				ws = append(ws, w)
			} else {
				skipped++
			}
		}
		aliases[a.Name] = ws
	}
	db := fabric.ZoneDB{Checksum: eff.Checksum, EffectiveCfg: eff.CfgName,
		SizeBytes: int(eff.DBCommitted), MaxBytes: int(eff.DBMax), Zones: make([]fabric.Zone, 0, len(def.Zones))}
	for _, z := range def.Zones {
		fz, n := toZone(z, aliases)
		db.Zones, skipped = append(db.Zones, fz), skipped+n
	}
	for _, z := range eff.Enabled {
		db.Effective = append(db.Effective, z.Name)
	}
	return db, skipped
}

// brocade-name-server: the leaves a fabric.Login needs.
type nameServerEntry struct {
	PortID            string `json:"port-id"`
	PortName          string `json:"port-name"`
	NodeName          string `json:"node-name"`
	PermanentPortName string `json:"permanent-port-name"`
	FC4Features       string `json:"fc4-features"`
	DeviceType        string `json:"name-server-device-type"`
	PortIndex         num    `json:"port-index"`
}

// toLogin maps one name-server entry. NPIV: the device type says so, or the
// permanent port name (the FLOGI's) differs from the port's. A port is a
// target when it registered a target FC-4 feature or role — arrays register
// Initiator+Target for replication and are still targets to sanmob.
func toLogin(e nameServerEntry) (fabric.Login, error) {
	var l fabric.Login
	var err error
	if l.WWPN, err = wwn.Parse(e.PortName); err != nil {
		return l, fmt.Errorf("port-name: %w", err)
	}
	if l.WWPN.IsZero() {
		return l, fmt.Errorf("port-name is zero")
	}
	if e.NodeName != "" {
		if l.WWNN, err = wwn.Parse(e.NodeName); err != nil {
			return l, fmt.Errorf("node-name: %w", err)
		}
	}
	hexID, ok := strings.CutPrefix(strings.ToLower(e.PortID), "0x")
	fcid, err := strconv.ParseUint(hexID, 16, 24)
	if !ok || err != nil {
		return l, fmt.Errorf("port-id %q is not 0xDDAAPP", e.PortID)
	}
	var perm wwn.WWN
	if e.PermanentPortName != "" {
		if perm, err = wwn.Parse(e.PermanentPortName); err != nil {
			return l, fmt.Errorf("permanent-port-name: %w", err)
		}
	}
	l.NPIV = strings.HasPrefix(e.DeviceType, "NPIV") || (!perm.IsZero() && perm != l.WWPN)
	if l.NPIV && perm != l.WWPN {
		l.PhysicalWWPN = perm // zero when the switch did not say
	}
	l.Kind = fabric.Initiator
	if strings.Contains(e.FC4Features, "Target") || strings.Contains(e.DeviceType, "Target") {
		l.Kind = fabric.Target
	}
	l.PortID = fmt.Sprintf("0x%06x", fcid)
	l.SwitchPort = fmt.Sprintf("%d,%d", fcid>>16, e.PortIndex)
	return l, nil
}

// brocade-fibrechannel-switch: its YANG is not among the reference modules;
// these leaves are the ones Broadcom's own tools (brcdapi) read.
type fcSwitch struct {
	Name             string `json:"name"`
	UserFriendlyName string `json:"user-friendly-name"`
	FirmwareVersion  string `json:"firmware-version"`
}

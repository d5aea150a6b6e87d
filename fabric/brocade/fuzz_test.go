package brocade

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/fabric"
)

// The fuzz tests feed the switch's replies to the decoding the driver does:
// it must never panic, and what it reads must survive being written back.

func FuzzDecodeZoneDB(f *testing.F) {
	f.Add([]byte(`{"Response": {"defined-configuration": {
		"cfg": [{"cfg-name": "prod", "member-zone": {"zone-name": ["z1", "pz"]}}],
		"zone": [{"zone-name": "z1", "zone-type": 0, "zone-type-string": "zone", "member-entry": {"entry-name": ["10:00:00:90:fa:00:00:01", "array1", "1,7"]}},
		         {"zone-name": "pz", "zone-type": 1, "member-entry": {"entry-name": ["10:00:00:90:fa:00:00:02"], "principal-entry-name": ["50:00:09:72:00:00:01:00"]}}],
		"alias": [{"alias-name": "array1", "member-entry": {"alias-entry-name": ["50:00:09:72:00:00:02:00", "2,3"]}}]}}}`),
		[]byte(`{"Response": {"effective-configuration": {"cfg-name": "prod", "checksum": "0123456789abcdef0123456789abcdef",
		"db-max": 1048576, "db-committed": 612, "transaction-token": 0,
		"enabled-zone": [{"zone-name": "z1", "zone-type": 0, "member-entry": {"entry-name": ["10:00:00:90:fa:00:00:01"]}}]}}}`))
	// FOS renders JSON from XML: single entries without arrays, numbers as strings.
	f.Add([]byte(`{"Response": {"defined-configuration": {"cfg": {"cfg-name": "c", "member-zone": {"zone-name": "tdz"}},
		"zone": {"zone-name": "tdz", "zone-type-string": "target-created-peer-zone", "member-entry": {"entry-name": "10:00:00:90:fa:00:00:01", "principal-entry-name": "50:00:09:72:00:00:01:00"}}}}}`),
		[]byte(`{"Response": {"effective-configuration": {"checksum": "00", "db-max": "4194304", "db-committed": " 12", "enabled-zone": {"zone-name": "tdz"}}}}`))
	f.Add([]byte(`{"Response": {"defined-configuration": {}}}`), []byte(`{"Response": {"effective-configuration": {"checksum": "x"}}}`))
	f.Add([]byte(`{"Response": {"defined-configuration": {"zone": [{"zone-name": "z", "member-entry": null}]}}}`), []byte(`null`))
	f.Fuzz(func(t *testing.T, defined, effective []byte) {
		var def definedReply
		var eff effectiveReply
		if json.Unmarshal(defined, &def) != nil || json.Unmarshal(effective, &eff) != nil {
			return
		}
		db, _ := zoneDB(def.Response.Defined, eff.Response.Effective)
		if len(db.Zones) != len(def.Response.Defined.Zones) || len(db.Effective) != len(eff.Response.Effective.Enabled) {
			t.Fatalf("%d zones and %d enabled read as %d and %d", len(def.Response.Defined.Zones),
				len(eff.Response.Effective.Enabled), len(db.Zones), len(db.Effective))
		}
		for _, z := range db.Zones {
			b, err := json.Marshal(toZoneEntry(z))
			if err != nil {
				t.Fatal(err)
			}
			var back zoneEntry
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("%s does not decode: %v", b, err)
			}
			got, skipped := toZone(back, nil)
			if skipped != 0 || got.Name != z.Name || !slices.Equal(got.Members, z.Members) || !slices.Equal(got.Principals, z.Principals) {
				t.Fatalf("zone %+v written as %s reads back as %+v (%d skipped)", z, b, got, skipped)
			}
		}
	})
}

var portIDPattern = regexp.MustCompile(`^0x[0-9a-f]{6}$`)

func FuzzDecodeLogins(f *testing.F) {
	f.Add([]byte(`{"Response": {"fibrechannel-name-server": [
		{"port-id": "0x010400", "port-name": "10:00:00:90:fa:00:00:0a", "node-name": "20:00:00:90:fa:00:00:0a", "permanent-port-name": "10:00:00:90:fa:00:00:0a",
		 "fc4-type": "FCP", "fc4-features": "FCP-Initiator", "port-type": "n-port", "name-server-device-type": "Physical Initiator", "port-index": 4},
		{"port-id": "0X0104A1", "port-name": "c0:50:76:00:00:00:00:01", "node-name": "c0:50:76:00:00:00:00:02", "permanent-port-name": "10:00:00:90:fa:00:00:0a",
		 "fc4-features": "FCP-Initiator", "name-server-device-type": "NPIV Initiator", "port-index": "4"},
		{"port-id": "0x010900", "port-name": "50:00:09:72:00:00:01:00", "fc4-features": "FCP-Initiator FCP-Target", "name-server-device-type": "Physical Initiator+Target", "port-index": 9}]}}`))
	f.Add([]byte(`{"Response": {"fibrechannel-name-server": {"port-id": "0x1", "port-name": "00:00:00:00:00:00:00:00"}}}`))
	f.Add([]byte(`{"Response": {"fibrechannel-name-server": [{"port-id": "0x010400", "port-name": "1000009000000001", "port-index": -1}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r nameServerReply
		if json.Unmarshal(body, &r) != nil {
			return
		}
		for _, e := range r.Response.Entries {
			l, err := toLogin(e)
			if err != nil {
				continue
			}
			if l.WWPN.IsZero() || !portIDPattern.MatchString(l.PortID) ||
				(l.Kind != fabric.Initiator && l.Kind != fabric.Target) || (!l.PhysicalWWPN.IsZero() && !l.NPIV) {
				t.Fatalf("%+v read as %+v", e, l)
			}
			back, err := toLogin(nameServerEntryOf(t, l))
			if err != nil || back != l {
				t.Fatalf("%+v written back reads as %+v, %v", l, back, err)
			}
		}
	})
}

// nameServerEntryOf writes l as FOS would list it.
func nameServerEntryOf(t *testing.T, l fabric.Login) nameServerEntry {
	domain, index, ok := strings.Cut(l.SwitchPort, ",")
	idx, err := strconv.ParseInt(index, 10, 64)
	if d, _ := strconv.ParseUint(domain, 10, 8); !ok || err != nil || fmt.Sprintf("0x%02x", d) != l.PortID[:4] {
		t.Fatalf("switch port %q does not match port id %s", l.SwitchPort, l.PortID)
	}
	e := nameServerEntry{PortID: l.PortID, PortName: l.WWPN.String(), NodeName: l.WWNN.String(),
		PermanentPortName: l.WWPN.String(), FC4Features: "FCP-Initiator", DeviceType: "Physical Initiator", PortIndex: num(idx)}
	if l.Kind == fabric.Target {
		e.FC4Features, e.DeviceType = "FCP-Target", "Physical Target"
	}
	if l.NPIV {
		e.DeviceType = "NPIV" + strings.TrimPrefix(e.DeviceType, "Physical")
		if !l.PhysicalWWPN.IsZero() {
			e.PermanentPortName = l.PhysicalWWPN.String()
		}
	}
	return e
}

func FuzzDecodeErrors(f *testing.F) {
	f.Add(uint16(409), []byte(`{"errors": {"error": [{"error-type": "application", "error-tag": "lock-denied", "error-message": "held by bob", "error-path": "/brocade-zone"}]}}`))
	f.Add(uint16(400), []byte(`{"ietf-restconf:errors": {"error": {"error-tag": "invalid-value", "error-message": "Checksum mismatch"}}}`))
	f.Add(uint16(503), []byte(`<html>busy</html>`))
	f.Add(uint16(500), []byte(`{"errors": {"error": [{"error-tag": 7}]}}`))
	f.Fuzz(func(t *testing.T, code uint16, body []byte) {
		status := 400 + int(code)%200
		errs := decodeErrors(body)
		err := classify(status, errs)
		if err == nil {
			t.Fatal("classify returned nil")
		}
		for _, e := range errs {
			if !strings.Contains(err.Error(), e.Message) {
				t.Fatalf("%q lost the switch's message %q", err, e.Message)
			}
		}
		if status == 503 && !fabric.IsTransient(err) {
			t.Fatalf("503 classed as final: %v", err)
		}
	})
}

package client_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/sanmob/sanmob/client"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/server"
)

// TestLabShapes: the client's lab types take every field of what the
// server sends, and the server takes every field of what the client sends,
// as the server's own types encode and decode them.
func TestLabShapes(t *testing.T) {
	a, b := wwn.MustParse("50:0a:09:81:00:00:00:01"), wwn.MustParse("10:00:00:00:c9:00:00:01")
	roundTrip := func(name string, from, to any) {
		t.Helper()
		raw, err := json.Marshal(from)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(to); err != nil {
			t.Fatalf("%s: %s does not decode into %T: %v", name, raw, to, err)
		}
	}
	var l client.Login
	roundTrip("login", fabric.Login{WWPN: a, WWNN: b, Kind: fabric.Target, NPIV: true, PhysicalWWPN: b, SwitchPort: "1,2",
		PortID: "0x010201", LoggedInAt: time.Unix(5, 0).UTC()}, &l)
	if l.WWPN != a.String() || l.Kind != "target" || !l.NPIV || l.PhysicalWWPN != b.String() || l.LoggedInAt == nil {
		t.Errorf("login %+v", l)
	}
	var db client.LabZoneDB
	roundTrip("zone DB", server.LabZoneDB{Checksum: "c", Effective: "cfg", EffectiveSet: []string{"z"}, SizeBytes: 1, MaxBytes: 2,
		Zones: []server.LabZone{{Name: "z", Members: []wwn.WWN{a}, Principals: []wwn.WWN{b}}}}, &db)
	if len(db.Zones) != 1 || db.Zones[0].Principals[0] != b.String() || db.EffectiveZones[0] != "z" || db.MaxBytes != 2 {
		t.Errorf("zone DB %+v", db)
	}
	var p server.LabPort
	roundTrip("port", client.LabPort{WWPN: "w", WWNN: "n", Target: true}, &p)
	if p != (server.LabPort{WWPN: "w", WWNN: "n", Target: true}) {
		t.Errorf("port %+v", p)
	}
}

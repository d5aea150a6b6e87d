package client_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/sanmob/sanmob/client"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/mobility"
)

// TestClaimShapes: the client's claim types take every field the daemon
// sends (a field added there and not here fails), and the daemon takes
// every field of the spec the client sends.
func TestClaimShapes(t *testing.T) {
	strict := func(raw []byte, to any) error {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		return dec.Decode(to)
	}
	a, b := wwn.MustParse("10:00:00:00:c9:00:00:01"), wwn.MustParse("50:0a:09:81:00:00:00:01")
	now := time.Unix(7, 0).UTC()
	raw, err := json.Marshal(mobility.Claim{Owner: "o", Key: "v/n", Initiators: []wwn.WWN{a}, Targets: []wwn.WWN{b}, Policy: fabric.SIST,
		Fabrics: []string{"f"}, Zones: []mobility.ClaimZone{{Fabric: "f", Name: "z", Members: []wwn.WWN{a, b}}},
		Unreached: []mobility.Unreached{{WWPN: a, Role: "initiator", Reason: "r"}}, State: mobility.ClaimDegraded,
		LastError: "e", Operation: "op", CreatedAt: now, UpdatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	var c client.Claim
	if err := strict(raw, &c); err != nil {
		t.Fatalf("%s does not decode into client.Claim: %v", raw, err)
	}
	if c.Initiators[0] != a.String() || c.Zones[0].Members[1] != b.String() || c.Unreached[0].Role != "initiator" ||
		c.State != "degraded" || c.LastError != "e" || c.Policy != "sist" || !c.UpdatedAt.Equal(now) {
		t.Errorf("claim %+v", c)
	}
	raw, err = json.Marshal(client.ClaimSpec{Initiators: []string{a.String()}, Targets: []string{b.String()}, Policy: "peer"})
	if err != nil {
		t.Fatal(err)
	}
	var spec mobility.ClaimSpec
	if err := strict(raw, &spec); err != nil || spec.Policy != "peer" || spec.Targets[0] != b.String() {
		t.Fatalf("spec %s → %+v, %v", raw, spec, err)
	}
}

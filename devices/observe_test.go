package devices

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/lab"
)

// countingSwitch counts full zone-DB reads of a lab switch.
type countingSwitch struct {
	*lab.Switch
	zoneDBs int
}

func (c *countingSwitch) ZoneDB(ctx context.Context) (fabric.ZoneDB, error) {
	c.zoneDBs++
	return c.Switch.ZoneDB(ctx)
}

func TestUnchangedZoneDBIsNotReadAgain(t *testing.T) {
	w, err := lab.New(lab.Small())
	if err != nil {
		t.Fatal(err)
	}
	sw, _ := w.Switch("east-a")
	c := &countingSwitch{Switch: sw}
	ctx := context.Background()
	first, err := ReadFabric(ctx, c, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := ReadFabric(ctx, c, time.Now(), first)
	if err != nil {
		t.Fatal(err)
	}
	if c.zoneDBs != 1 || second.DB.Checksum != first.DB.Checksum || len(second.byWWPN) != len(first.byWWPN) {
		t.Fatalf("unchanged zone DB read %d times", c.zoneDBs)
	}
	// The reused zone index answers exactly as the freshly built one.
	for _, l := range first.Logins {
		_, _, z1 := first.Port(l.WWPN)
		_, _, z2 := second.Port(l.WWPN)
		if !slices.Equal(z1, z2) {
			t.Fatalf("zones of %v: %v fresh, %v reused", l.WWPN, z1, z2)
		}
	}
	if err := sw.DeleteZone(first.DB.Zones[0].Name); err != nil {
		t.Fatal(err)
	}
	third, err := ReadFabric(ctx, c, time.Now(), second)
	if err != nil {
		t.Fatal(err)
	}
	if c.zoneDBs != 2 || len(third.DB.Zones) != len(first.DB.Zones)-1 {
		t.Fatalf("changed zone DB: %d reads, %d zones", c.zoneDBs, len(third.DB.Zones))
	}
	// A driver without the ability is always read in full.
	plain := struct{ fabric.Driver }{c}
	if _, err := ReadFabric(ctx, plain, time.Now(), third); err != nil || c.zoneDBs != 3 {
		t.Fatalf("plain driver: %v, %d reads", err, c.zoneDBs)
	}
}

package labwire

import (
	"slices"
	"testing"

	"github.com/sanmob/sanmob/lab"
	"github.com/sanmob/sanmob/mobility"
)

// TestMobilityOfFabricPairs: a world of two fabric pairs a site hands the
// core all its fabrics, the lab's FabricIDs, each with its site.
func TestMobilityOfFabricPairs(t *testing.T) {
	c := lab.Small()
	c.FabricPairsPerSite = 2
	w, err := lab.New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	cfg := Mobility(w, mobility.Config{})
	var ids []string
	for _, f := range cfg.Fabrics {
		ids = append(ids, f.ID)
		if f.Site != f.ID[:4] {
			t.Errorf("fabric %s at site %s", f.ID, f.Site)
		}
	}
	want := []string{"east-a", "east-b", "east-c", "east-d", "west-a", "west-b", "west-c", "west-d"}
	if !slices.Equal(ids, want) || !slices.Equal(c.FabricIDs(), want) {
		t.Fatalf("fabrics %v (config names %v), want %v", ids, c.FabricIDs(), want)
	}
}

package labwire

import (
	"fmt"

	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/lab"
	"github.com/sanmob/sanmob/mobility"
)

// Mobility fills a mobility configuration's sites, links, fabrics, arrays,
// compute driver and clock from a lab world, every fabric and array of the
// world built through the registry as MobilityFrom builds them; the caller
// adds the store, the log and any tuning. The world's own devices always
// resolve, so it panics only on a bug in this package.
func Mobility(w *lab.World, cfg mobility.Config) mobility.Config {
	fabrics, arrays := Specs(w)
	cfg, err := MobilityFrom(w, fabrics, arrays, cfg)
	if err != nil {
		panic(fmt.Sprintf("labwire: the lab's own devices: %v", err))
	}
	return cfg
}

// MobilityFrom fills a mobility configuration's sites, links, compute
// driver and clock from a lab world, and its fabrics and arrays from the
// specs, each built with the driver its Spec names (Factories: "lab" for a
// device of the world, "brocade" for a FOS REST switch). A spec that cannot
// be built fails it, naming the device. cfg.Log, when set, is also the
// drivers' logger.
func MobilityFrom(w *lab.World, fabrics, arrays []devices.Spec, cfg mobility.Config) (mobility.Config, error) {
	fabs, arrs, err := devices.Build(Factories(w, cfg.Log), fabrics, arrays)
	if err != nil {
		return cfg, err
	}
	cfg.Clock, cfg.Compute = w.Clock(), w.Compute()
	for _, s := range w.Sites() {
		cfg.Sites = append(cfg.Sites, inventory.Site{ID: s.ID})
	}
	for _, l := range w.Links() {
		cfg.Links = append(cfg.Links, inventory.Link{From: l.From, To: l.To, RTTMs: l.RTTMs, BandwidthMbps: l.BandwidthMbps, DistanceKm: l.DistanceKm})
	}
	cfg.Fabrics = append(cfg.Fabrics, fabs...)
	cfg.Arrays = append(cfg.Arrays, arrs...)
	return cfg, nil
}

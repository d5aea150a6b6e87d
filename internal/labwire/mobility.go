package labwire

import (
	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/inventory"
	"github.com/sanmob/sanmob/lab"
	"github.com/sanmob/sanmob/mobility"
)

// Mobility fills a mobility configuration's sites, links, fabrics, arrays,
// compute driver and clock from a lab world; the caller adds the store, the
// log and any tuning.
func Mobility(w *lab.World, cfg mobility.Config) mobility.Config {
	cfg.Clock, cfg.Compute = w.Clock(), w.Compute()
	for _, s := range w.Sites() {
		cfg.Sites = append(cfg.Sites, inventory.Site{ID: s.ID})
	}
	for _, l := range w.Links() {
		cfg.Links = append(cfg.Links, inventory.Link{From: l.From, To: l.To, RTTMs: l.RTTMs, BandwidthMbps: l.BandwidthMbps, DistanceKm: l.DistanceKm})
	}
	for _, f := range w.Fabrics() {
		cfg.Fabrics = append(cfg.Fabrics, devices.FabricDevice{ID: f.ID, Site: f.Site, DriverName: "lab", Driver: f.Switch})
	}
	for _, a := range w.Arrays() {
		cfg.Arrays = append(cfg.Arrays, devices.ArrayDevice{ID: a.ID, Site: a.Site, DriverName: "lab", Driver: a.Array})
	}
	return cfg
}

package main

import (
	"maps"
	"slices"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/lab"
)

// logWorkloads says, pool by pool, how the lab's pools grow (lab.Config's
// Workloads), so that whoever takes the tour knows which pool heads for
// full and how fast.
func logWorkloads(log logrus.FieldLogger, wls map[string]lab.Workload) {
	for _, id := range slices.Sorted(maps.Keys(wls)) {
		wl := wls[id]
		f := logrus.Fields{"pool": id, "model": wl.Model, "perDayPercent": wl.PerDay * 100}
		switch wl.Model {
		case lab.ModelSeasonal:
			f["amplitude"], f["phaseHours"] = wl.Amplitude, wl.PhaseHours
		case lab.ModelStep:
			f["stepAt"], f["stepPercent"] = wl.StepAt.String(), wl.StepSize*100
		case lab.ModelBursts:
			f["burstChance"], f["burstPercent"] = wl.BurstChance, wl.BurstSize*100
		}
		log.WithFields(f).Info("lab: pool workload (virtual time)")
	}
}

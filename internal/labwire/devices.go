package labwire

import (
	"fmt"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/lab"
)

// DriverLab is the driver name of a device the embedded lab simulates.
const DriverLab = "lab"

// Specs names every fabric and array of the world as a device whose driver
// is DriverLab, in the world's order, with no options.
func Specs(w *lab.World) (fabrics, arrays []devices.Spec) {
	for _, f := range w.Fabrics() {
		fabrics = append(fabrics, devices.Spec{ID: f.ID, Site: f.Site, Driver: DriverLab})
	}
	for _, a := range w.Arrays() {
		arrays = append(arrays, devices.Spec{ID: a.ID, Site: a.Site, Driver: DriverLab})
	}
	return fabrics, arrays
}

// Factories are the drivers the daemon can build its devices with: for
// fabrics and arrays DriverLab, the world's switch or array of the Spec's id
// (only when w is not nil), and for fabrics DriverBrocade, a FOS REST switch
// whose driver logs to log (nil: nowhere).
func Factories(w *lab.World, log logrus.FieldLogger) devices.Factories {
	f := devices.Factories{
		Fabric: map[string]devices.FabricFactory{DriverBrocade: Brocade(log)},
		Array:  map[string]devices.ArrayFactory{},
	}
	if w != nil {
		f.Fabric[DriverLab], f.Array[DriverLab] = LabFabric(w), LabArray(w)
	}
	return f
}

// LabFabric builds the driver of a lab fabric: the switch of the world
// whose fabric id is the Spec's. An id the world does not have, a site
// other than the fabric's, or any option is an error.
func LabFabric(w *lab.World) devices.FabricFactory {
	refs := w.Fabrics()
	byID := make(map[string]lab.FabricRef, len(refs))
	for _, f := range refs {
		byID[f.ID] = f
	}
	return func(s devices.Spec) (fabric.Driver, error) {
		f, ok := byID[s.ID]
		if !ok {
			return nil, fmt.Errorf("the lab has no fabric %q (it has %s)", s.ID, labIDs(refs, func(f lab.FabricRef) string { return f.ID }))
		}
		if err := checkLab(s, f.Site); err != nil {
			return nil, err
		}
		return f.Switch, nil
	}
}

// LabArray builds the driver of a lab array, as LabFabric a fabric's.
func LabArray(w *lab.World) devices.ArrayFactory {
	refs := w.Arrays()
	byID := make(map[string]lab.ArrayRef, len(refs))
	for _, a := range refs {
		byID[a.ID] = a
	}
	return func(s devices.Spec) (array.Driver, error) {
		a, ok := byID[s.ID]
		if !ok {
			return nil, fmt.Errorf("the lab has no array %q (it has %s)", s.ID, labIDs(refs, func(a lab.ArrayRef) string { return a.ID }))
		}
		if err := checkLab(s, a.Site); err != nil {
			return nil, err
		}
		return a.Array, nil
	}
}

// labIDs lists the ids of refs for an error, the first few of a big world.
func labIDs[R any](refs []R, id func(R) string) string {
	const most = 8
	var ids []string
	for i, r := range refs {
		if i == most {
			ids = append(ids, fmt.Sprintf("and %d more", len(refs)-most))
			break
		}
		ids = append(ids, id(r))
	}
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// checkLab checks a Spec against the lab device of its id, at site.
func checkLab(s devices.Spec, site string) error {
	if s.Site != site {
		return fmt.Errorf("the lab's %s is at site %q, not %q", s.ID, site, s.Site)
	}
	return s.CheckOptions()
}

package devices

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric"
)

// Spec is one device as the configuration names it: its id, its site, the
// name of the driver that reaches it and that driver's options (a URL, a
// user, a file to read a password from — each factory says which it takes).
type Spec struct {
	ID      string
	Site    string
	Driver  string
	Options map[string]string
}

// A FabricFactory builds the driver of one fabric from its Spec. It
// validates the options and does no network I/O: a driver connects on first
// use, so that building every device cannot hang on one that is down. An
// error says what is wrong with the Spec.
type FabricFactory func(Spec) (fabric.Driver, error)

// An ArrayFactory builds the driver of one array from its Spec, as
// FabricFactory does a fabric's.
type ArrayFactory func(Spec) (array.Driver, error)

// Factories are the drivers this build knows, by the name a Spec gives in
// Driver (after hashicorp/nomad's scheduler.BuiltinSchedulers).
type Factories struct {
	Fabric map[string]FabricFactory
	Array  map[string]ArrayFactory
}

// ErrUnknownDriver: a Spec names a driver the Factories do not have.
var ErrUnknownDriver = errors.New("unknown driver")

// FabricDrivers lists the names of the fabric drivers, sorted.
func (f Factories) FabricDrivers() []string { return slices.Sorted(maps.Keys(f.Fabric)) }

// ArrayDrivers lists the names of the array drivers, sorted.
func (f Factories) ArrayDrivers() []string { return slices.Sorted(maps.Keys(f.Array)) }

// Build makes the devices of the specs with the factories their Driver
// names, in the order given. Every spec is tried; the error joins one error
// per device that could not be built (its kind, id and driver, and why: an
// unknown driver, listing the known ones, wraps ErrUnknownDriver; a factory's
// error is wrapped as it is), and then no device is returned. Ids and sites
// are New's to check.
func Build(f Factories, fabrics, arrays []Spec) ([]FabricDevice, []ArrayDevice, error) {
	var errs []error
	fabDrivers, arrDrivers := f.FabricDrivers(), f.ArrayDrivers()
	fabs := make([]FabricDevice, 0, len(fabrics))
	for _, s := range fabrics {
		d, err := build("fabric", f.Fabric[s.Driver], fabDrivers, s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fabs = append(fabs, FabricDevice{ID: s.ID, Site: s.Site, DriverName: s.Driver, Driver: d})
	}
	arrs := make([]ArrayDevice, 0, len(arrays))
	for _, s := range arrays {
		d, err := build("array", f.Array[s.Driver], arrDrivers, s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		arrs = append(arrs, ArrayDevice{ID: s.ID, Site: s.Site, DriverName: s.Driver, Driver: d})
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return fabs, arrs, nil
}

// build runs mk, the factory s names (nil: none of that name). T is
// fabric.Driver or array.Driver, so a nil interface is a factory that built
// nothing.
func build[T comparable](kind string, mk func(Spec) (T, error), drivers []string, s Spec) (T, error) {
	var zero T
	if mk == nil {
		known := strings.Join(drivers, ", ")
		if known == "" {
			known = "none"
		}
		what := fmt.Sprintf("driver %q", s.Driver)
		if s.Driver == "" {
			what = "no driver named"
		}
		return zero, fmt.Errorf("devices: %s %q: %s: %w (this build knows: %s)", kind, s.ID, what, ErrUnknownDriver, known)
	}
	d, err := mk(s)
	if err != nil {
		return zero, fmt.Errorf("devices: %s %q (driver %s): %w", kind, s.ID, s.Driver, err)
	}
	if d == zero {
		return zero, fmt.Errorf("devices: %s %q (driver %s): the factory built no driver", kind, s.ID, s.Driver)
	}
	return d, nil
}

// CheckOptions returns an error naming every option of s that is not among
// known, so that a misspelt option fails instead of being ignored. A factory
// calls it first.
func (s Spec) CheckOptions(known ...string) error {
	var bad []string
	for _, k := range slices.Sorted(maps.Keys(s.Options)) {
		if !slices.Contains(known, k) {
			bad = append(bad, fmt.Sprintf("%q", k))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	takes := "no options"
	if len(known) > 0 {
		takes = "options " + strings.Join(known, ", ")
	}
	return fmt.Errorf("unknown option %s (driver %s takes %s)", strings.Join(bad, ", "), s.Driver, takes)
}

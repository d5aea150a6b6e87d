package labwire

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/lab"
	"github.com/sanmob/sanmob/mobility"
)

func newWorld(t *testing.T) *lab.World {
	t.Helper()
	w, err := lab.New(lab.Small())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func TestLabFactories(t *testing.T) {
	w := newWorld(t)
	f := Factories(w, nil)
	fab, arr := w.Fabrics()[0], w.Arrays()[0]
	for _, tc := range []struct {
		name    string
		fabric  bool
		spec    devices.Spec
		want    any    // the world's device the driver must be
		wantErr string // "" for none
	}{
		{name: "a lab fabric", fabric: true, spec: devices.Spec{ID: fab.ID, Site: fab.Site, Driver: DriverLab}, want: fab.Switch},
		{name: "a lab array", spec: devices.Spec{ID: arr.ID, Site: arr.Site, Driver: DriverLab}, want: arr.Array},
		{name: "a fabric the lab does not have", fabric: true, spec: devices.Spec{ID: "north-a", Site: fab.Site, Driver: DriverLab},
			wantErr: `the lab has no fabric "north-a" (it has ` + fab.ID},
		{name: "an array the lab does not have", spec: devices.Spec{ID: "north-arr9", Site: arr.Site, Driver: DriverLab},
			wantErr: `the lab has no array "north-arr9" (it has ` + arr.ID},
		{name: "a lab fabric at another site", fabric: true, spec: devices.Spec{ID: fab.ID, Site: "elsewhere", Driver: DriverLab},
			wantErr: `at site "` + fab.Site + `", not "elsewhere"`},
		{name: "a lab array at another site", spec: devices.Spec{ID: arr.ID, Site: "elsewhere", Driver: DriverLab},
			wantErr: `not "elsewhere"`},
		{name: "a lab fabric takes no options", fabric: true,
			spec:    devices.Spec{ID: fab.ID, Site: fab.Site, Driver: DriverLab, Options: map[string]string{"url": "https://x"}},
			wantErr: `unknown option "url" (driver lab takes no options)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got any
			var err error
			if tc.fabric {
				got, err = f.Fabric[DriverLab](tc.spec)
			} else {
				got, err = f.Array[DriverLab](tc.spec)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("factory(%+v) = %v, want an error saying %q", tc.spec, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("factory(%+v) built %T %p, not the world's device", tc.spec, got, got)
			}
		})
	}
	if got, want := f.FabricDrivers(), []string{DriverBrocade, DriverLab}; !slices.Equal(got, want) {
		t.Errorf("fabric drivers %v, want %v", got, want)
	}
	if got, want := f.ArrayDrivers(), []string{DriverLab}; !slices.Equal(got, want) {
		t.Errorf("array drivers %v, want %v", got, want)
	}
	// Without a world there is no lab driver to build with.
	if nf := Factories(nil, nil); !slices.Equal(nf.FabricDrivers(), []string{DriverBrocade}) || len(nf.ArrayDrivers()) != 0 {
		t.Errorf("Factories(nil) knows fabrics %v arrays %v, want [brocade] and none", nf.FabricDrivers(), nf.ArrayDrivers())
	}
}

// The world's devices built through the registry are the devices the
// daemon was wired with before there was a registry: every fabric and
// array, in the world's order, with its site, driver name "lab" and the
// world's own switch or array as its driver.
func TestMobilityBuildsTheWorldsDevices(t *testing.T) {
	w := newWorld(t)
	cfg := Mobility(w, mobility.Config{})
	var wantFab []devices.FabricDevice
	for _, f := range w.Fabrics() {
		wantFab = append(wantFab, devices.FabricDevice{ID: f.ID, Site: f.Site, DriverName: "lab", Driver: f.Switch})
	}
	var wantArr []devices.ArrayDevice
	for _, a := range w.Arrays() {
		wantArr = append(wantArr, devices.ArrayDevice{ID: a.ID, Site: a.Site, DriverName: "lab", Driver: a.Array})
	}
	if !slices.Equal(cfg.Fabrics, wantFab) {
		t.Errorf("fabrics %+v, want %+v", cfg.Fabrics, wantFab)
	}
	if !slices.Equal(cfg.Arrays, wantArr) {
		t.Errorf("arrays %+v, want %+v", cfg.Arrays, wantArr)
	}
	if len(cfg.Sites) != len(w.Sites()) || len(cfg.Links) != len(w.Links()) || cfg.Compute == nil || cfg.Clock == nil {
		t.Errorf("sites %d links %d compute %v clock %v: not the world's", len(cfg.Sites), len(cfg.Links), cfg.Compute, cfg.Clock)
	}
	if len(wantFab) == 0 || len(wantArr) == 0 {
		t.Fatal("the small world has no devices")
	}
}

func TestMobilityFromRefusesWhatItCannotBuild(t *testing.T) {
	w := newWorld(t)
	fabrics, arrays := Specs(w)
	fabrics = append(fabrics, devices.Spec{ID: "core-a", Site: "east", Driver: "cisco"},
		devices.Spec{ID: "core-b", Site: "east", Driver: DriverBrocade, Options: map[string]string{"url": "http://sw"}})
	arrays = append(arrays, devices.Spec{ID: "north-arr1", Site: "north", Driver: DriverLab})
	_, err := MobilityFrom(w, fabrics, arrays, mobility.Config{})
	if err == nil {
		t.Fatal("MobilityFrom built devices it cannot have")
	}
	for _, want := range []string{`fabric "core-a"`, "this build knows: brocade, lab",
		`fabric "core-b" (driver brocade)`, "https", `array "north-arr1" (driver lab)`, `the lab has no array "north-arr1"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if !errors.Is(err, devices.ErrUnknownDriver) {
		t.Errorf("error %q does not wrap ErrUnknownDriver", err)
	}
}

package devices

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/array"
	"github.com/sanmob/sanmob/fabric"
)

// fakeFabric and fakeArray are drivers that remember the Spec they were
// built from; calling any driver method panics (Build makes no call).
type fakeFabric struct {
	fabric.Driver
	spec Spec
}

type fakeArray struct {
	array.Driver
	spec Spec
}

var errRefused = errors.New("url is required")

func testFactories() Factories {
	return Factories{
		Fabric: map[string]FabricFactory{
			"lab": func(s Spec) (fabric.Driver, error) { return &fakeFabric{spec: s}, nil },
			"brocade": func(s Spec) (fabric.Driver, error) {
				if s.Options["url"] == "" {
					return nil, errRefused
				}
				return &fakeFabric{spec: s}, nil
			},
			"broken": func(Spec) (fabric.Driver, error) { return nil, nil },
		},
		Array: map[string]ArrayFactory{
			"lab": func(s Spec) (array.Driver, error) { return &fakeArray{spec: s}, nil },
		},
	}
}

func TestBuild(t *testing.T) {
	brocade := Spec{ID: "core-a", Site: "east", Driver: "brocade", Options: map[string]string{"url": "https://sw"}}
	for _, tc := range []struct {
		name             string
		factories        Factories
		fabrics, arrays  []Spec
		wantFab, wantArr []string // ids, in order
		wantErr          []string // substrings of the error; nil: none
		wantIs           []error
	}{
		{
			name:      "lab and brocade, in the order given",
			factories: testFactories(),
			fabrics:   []Spec{{ID: "east-b", Site: "east", Driver: "lab"}, brocade, {ID: "east-a", Site: "east", Driver: "lab"}},
			arrays:    []Spec{{ID: "east-arr1", Site: "east", Driver: "lab"}},
			wantFab:   []string{"east-b", "core-a", "east-a"},
			wantArr:   []string{"east-arr1"},
		},
		{
			name:      "nothing configured",
			factories: testFactories(),
		},
		{
			name:      "unknown fabric driver lists the known ones",
			factories: testFactories(),
			fabrics:   []Spec{{ID: "core-a", Site: "east", Driver: "cisco"}},
			wantErr:   []string{`fabric "core-a"`, `driver "cisco"`, "unknown driver", "this build knows: brocade, broken, lab"},
			wantIs:    []error{ErrUnknownDriver},
		},
		{
			name:      "unknown array driver lists the known ones",
			factories: testFactories(),
			arrays:    []Spec{{ID: "a1", Site: "east", Driver: "3par"}},
			wantErr:   []string{`array "a1"`, `driver "3par"`, "this build knows: lab"},
			wantIs:    []error{ErrUnknownDriver},
		},
		{
			name:      "no driver named",
			factories: testFactories(),
			fabrics:   []Spec{{ID: "core-a", Site: "east"}},
			wantErr:   []string{`fabric "core-a"`, "no driver named", "this build knows: brocade, broken, lab"},
			wantIs:    []error{ErrUnknownDriver},
		},
		{
			name:    "no factories at all",
			arrays:  []Spec{{ID: "a1", Driver: "lab"}},
			wantErr: []string{`array "a1"`, "this build knows: none"},
			wantIs:  []error{ErrUnknownDriver},
		},
		{
			name:      "a factory's error names the device and is wrapped",
			factories: testFactories(),
			fabrics:   []Spec{{ID: "core-b", Site: "west", Driver: "brocade"}},
			wantErr:   []string{`fabric "core-b" (driver brocade)`, "url is required"},
			wantIs:    []error{errRefused},
		},
		{
			name:      "a factory that builds nothing",
			factories: testFactories(),
			fabrics:   []Spec{{ID: "core-c", Site: "west", Driver: "broken"}},
			wantErr:   []string{`fabric "core-c" (driver broken)`, "built no driver"},
		},
		{
			name:      "every bad device is named, and none is built",
			factories: testFactories(),
			fabrics:   []Spec{{ID: "east-a", Driver: "lab"}, {ID: "core-b", Driver: "brocade"}},
			arrays:    []Spec{{ID: "east-arr1", Driver: "lab"}, {ID: "a1", Driver: "3par"}},
			wantErr:   []string{`fabric "core-b"`, `array "a1"`},
			wantIs:    []error{errRefused, ErrUnknownDriver},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fabs, arrs, err := Build(tc.factories, tc.fabrics, tc.arrays)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("Build = %d fabrics, %d arrays, no error; want an error", len(fabs), len(arrs))
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				for _, w := range tc.wantIs {
					if !errors.Is(err, w) {
						t.Errorf("error %q does not wrap %v", err, w)
					}
				}
				if fabs != nil || arrs != nil {
					t.Errorf("Build failed but returned devices: %v %v", fabs, arrs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var gotFab, gotArr []string
			for i, f := range fabs {
				gotFab = append(gotFab, f.ID)
				if s := tc.fabrics[i]; f.Site != s.Site || f.DriverName != s.Driver ||
					f.Driver.(*fakeFabric).spec.ID != s.ID || !maps.Equal(f.Driver.(*fakeFabric).spec.Options, s.Options) {
					t.Errorf("fabric %d = %+v, built from %+v; want it built from %+v", i, f, f.Driver.(*fakeFabric).spec, s)
				}
			}
			for i, a := range arrs {
				gotArr = append(gotArr, a.ID)
				if s := tc.arrays[i]; a.Site != s.Site || a.DriverName != s.Driver || a.Driver.(*fakeArray).spec.ID != s.ID {
					t.Errorf("array %d = %+v; want it built from %+v", i, a, s)
				}
			}
			if !slices.Equal(gotFab, tc.wantFab) || !slices.Equal(gotArr, tc.wantArr) {
				t.Errorf("built fabrics %v arrays %v, want %v %v", gotFab, gotArr, tc.wantFab, tc.wantArr)
			}
		})
	}
}

func TestFactoryNames(t *testing.T) {
	f := testFactories()
	if got, want := f.FabricDrivers(), []string{"brocade", "broken", "lab"}; !slices.Equal(got, want) {
		t.Errorf("FabricDrivers = %v, want %v", got, want)
	}
	if got, want := f.ArrayDrivers(), []string{"lab"}; !slices.Equal(got, want) {
		t.Errorf("ArrayDrivers = %v, want %v", got, want)
	}
	if got := (Factories{}).FabricDrivers(); len(got) != 0 {
		t.Errorf("no factories: FabricDrivers = %v", got)
	}
}

func TestSpecCheckOptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		options map[string]string
		known   []string
		wantErr string // "" for none
	}{
		{name: "no options, none taken"},
		{name: "known options", options: map[string]string{"url": "u", "user": "x"}, known: []string{"url", "user", "password"}},
		{name: "an option where none is taken", options: map[string]string{"url": "u"},
			wantErr: `unknown option "url" (driver d takes no options)`},
		{name: "misspelt options, sorted", options: map[string]string{"url": "u", "usr": "x", "pasword": "p"}, known: []string{"url", "user", "password"},
			wantErr: `unknown option "pasword", "usr" (driver d takes options url, user, password)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Spec{ID: "x", Driver: "d", Options: tc.options}.CheckOptions(tc.known...)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("CheckOptions = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
				t.Fatalf("CheckOptions = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

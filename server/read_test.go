package server_test

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sanmob/sanmob/server"
)

// The resources as API.md names their fields; tags are spelled out so that a
// renamed field shows up as a zero value rather than being matched loosely.
type (
	apiSite struct {
		ID string `json:"id"`
	}
	apiLink struct {
		From          string  `json:"from"`
		To            string  `json:"to"`
		RTTMs         float64 `json:"rttMs"`
		BandwidthMbps float64 `json:"bandwidthMbps"`
		DistanceKm    float64 `json:"distanceKm"`
	}
	apiFabric struct {
		ID             string `json:"id"`
		Site           string `json:"site"`
		Driver         string `json:"driver"`
		ZoneCount      int    `json:"zoneCount"`
		ZoneDBBytes    int    `json:"zoneDbBytes"`
		ZoneDBMaxBytes int    `json:"zoneDbMaxBytes"`
	}
	apiLogin struct {
		WWPN         string `json:"wwpn"`
		WWNN         string `json:"wwnn"`
		Kind         string `json:"kind"`
		NPIV         bool   `json:"npiv"`
		PhysicalWWPN string `json:"physicalWWPN"`
		SwitchPort   string `json:"switchPort"`
	}
	apiZone struct {
		Name    string   `json:"name"`
		Members []string `json:"members"`
		Peer    []string `json:"peer"`
		Owner   string   `json:"owner"`
		Users   []string `json:"users"`
	}
	apiHBA struct {
		WWPN        string `json:"wwpn"`
		WWNN        string `json:"wwnn"`
		Fabric      string `json:"fabric"`
		MaxVports   int    `json:"maxVports"`
		VportsInUse int    `json:"vportsInUse"`
	}
	apiHost struct {
		ID   string   `json:"id"`
		Name string   `json:"name"`
		Site string   `json:"site"`
		HBAs []apiHBA `json:"hbas"`
	}
	apiVport struct {
		Fabric     string     `json:"fabric"`
		WWPN       string     `json:"wwpn"`
		WWNN       string     `json:"wwnn"`
		Set        string     `json:"set"`
		Active     bool       `json:"active"`
		LoggedIn   bool       `json:"loggedIn"`
		LoggedInAt *time.Time `json:"loggedInAt"`
	}
	apiVolumeRef struct {
		ID  string `json:"id"`
		LUN int    `json:"lun"`
	}
	apiVM struct {
		ID      string         `json:"id"`
		Name    string         `json:"name"`
		Host    string         `json:"host"`
		Site    string         `json:"site"`
		Vports  []apiVport     `json:"vports"`
		Volumes []apiVolumeRef `json:"volumes"`
		Shares  int            `json:"shares"`
	}
	apiPath struct {
		Fabric         string `json:"fabric"`
		Set            string `json:"set"`
		VportWWPN      string `json:"vportWWPN"`
		HBAWWPN        string `json:"hbaWWPN"`
		Zone           string `json:"zone"`
		TargetPortWWPN string `json:"targetPortWWPN"`
		Array          string `json:"array"`
		Volume         string `json:"volume"`
		LUN            int    `json:"lun"`
	}
	apiTopologyVolume struct {
		ID        string           `json:"id"`
		Array     string           `json:"array"`
		Pool      string           `json:"pool"`
		LUN       int              `json:"lun"`
		WWN       string           `json:"wwn"`
		SizeBytes int64            `json:"sizeBytes"`
		UsedBytes int64            `json:"usedBytes"`
		Snapshots []map[string]any `json:"snapshots"`
	}
	apiTopology struct {
		VM      string              `json:"vm"`
		Host    string              `json:"host"`
		Site    string              `json:"site"`
		Paths   []apiPath           `json:"paths"`
		Volumes []apiTopologyVolume `json:"volumes"`
		Issues  []string            `json:"issues"`
	}
	apiTargetPort struct {
		WWPN       string `json:"wwpn"`
		Fabric     string `json:"fabric"`
		QueueLimit int    `json:"queueLimit"`
	}
	apiArray struct {
		ID          string          `json:"id"`
		Site        string          `json:"site"`
		TargetPorts []apiTargetPort `json:"targetPorts"`
	}
	apiPool struct {
		ID               string  `json:"id"`
		Array            string  `json:"array"`
		PhysicalBytes    int64   `json:"physicalBytes"`
		UsedBytes        int64   `json:"usedBytes"`
		ProvisionedBytes int64   `json:"provisionedBytes"`
		Overcommit       float64 `json:"overcommit"`
		MaxOvercommit    float64 `json:"maxOvercommit"`
		UsedPercent      float64 `json:"usedPercent"`
	}
	apiVolume struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		Array     string `json:"array"`
		Pool      string `json:"pool"`
		SizeBytes int64  `json:"sizeBytes"`
		UsedBytes int64  `json:"usedBytes"`
		WWN       string `json:"wwn"`
		Thin      bool   `json:"thin"`
	}
	apiSnapshot struct {
		ID     string `json:"id"`
		Volume string `json:"volume"`
		Array  string `json:"array"`
	}
)

// items decodes a list answer generically, for the key checks.
func items(t *testing.T, r *response) []map[string]any {
	t.Helper()
	l := wantJSON[list[map[string]any]](t, r, http.StatusOK)
	if l.Items == nil {
		t.Fatalf("%v: no items array", r)
	}
	return l.Items
}

func subobjects(t *testing.T, where string, v any) []map[string]any {
	t.Helper()
	arr, ok := v.([]any)
	if !ok {
		t.Fatalf("%s: %T, want a JSON array", where, v)
	}
	out := make([]map[string]any, 0, len(arr))
	for i, e := range arr {
		m, ok := e.(map[string]any)
		if !ok {
			t.Fatalf("%s[%d]: %T, want an object", where, i, e)
		}
		out = append(out, m)
	}
	return out
}

func ids[T any](xs []T, id func(T) string) []string {
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		out = append(out, id(x))
	}
	return out
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// TestReadEndpoints calls every read endpoint of API.md that this build
// serves and checks the documented fields and what the small lab holds.
func TestReadEndpoints(t *testing.T) {
	h := newHarness(t)
	fabricIDs := []string{"east-a", "east-b", "west-a", "west-b"}

	// npivOn counts the NPIV logins each physical port carries, from the
	// name servers as the API shows them.
	npivOn := map[string]int{}
	loginsOf := map[string][]apiLogin{}
	for _, f := range fabricIDs {
		l := getJSON[list[apiLogin]](t, h, "/v1/fabrics/"+f+"/logins")
		loginsOf[f] = l.Items
		for _, x := range l.Items {
			if x.NPIV {
				npivOn[x.PhysicalWWPN]++
			}
		}
	}

	tests := []struct {
		name  string
		path  string
		check func(t *testing.T, r *response)
	}{
		{"sites", "/v1/sites", func(t *testing.T, r *response) {
			for _, o := range items(t, r) {
				requireKeys(t, "site", o, "id")
			}
			l := wantJSON[list[apiSite]](t, r, 200)
			if got := ids(l.Items, func(s apiSite) string { return s.ID }); !slices.Equal(got, []string{"east", "west"}) {
				t.Errorf("sites %v, want [east west]", got)
			}
		}},
		{"site", "/v1/sites/west", func(t *testing.T, r *response) {
			if s := wantJSON[apiSite](t, r, 200); s.ID != "west" {
				t.Errorf("site %+v", s)
			}
		}},
		{"links", "/v1/links", func(t *testing.T, r *response) {
			for _, o := range items(t, r) {
				requireKeys(t, "link", o, "from", "to", "rttMs", "bandwidthMbps", "distanceKm")
			}
			l := wantJSON[list[apiLink]](t, r, 200)
			want := []apiLink{{From: "east", To: "west", RTTMs: 4, BandwidthMbps: 10000, DistanceKm: 300}}
			if !slices.Equal(l.Items, want) {
				t.Errorf("links %+v, want %+v", l.Items, want)
			}
		}},
		{"fabrics", "/v1/fabrics", func(t *testing.T, r *response) {
			for _, o := range items(t, r) {
				requireKeys(t, "fabric", o, "id", "site", "driver", "zoneCount", "zoneDbBytes", "zoneDbMaxBytes", "lastCommitAt")
			}
			l := wantJSON[list[apiFabric]](t, r, 200)
			if got := ids(l.Items, func(f apiFabric) string { return f.ID }); !slices.Equal(got, fabricIDs) {
				t.Fatalf("fabrics %v, want %v", got, fabricIDs)
			}
			for _, f := range l.Items {
				if f.ZoneCount <= 0 || f.ZoneDBBytes <= 0 || f.ZoneDBMaxBytes != 1<<20 || f.ZoneDBBytes > f.ZoneDBMaxBytes {
					t.Errorf("fabric %+v: want zoneCount > 0 and 0 < zoneDbBytes <= zoneDbMaxBytes = 1 MiB", f)
				}
				if !strings.HasPrefix(f.ID, f.Site+"-") || f.Driver != "lab" {
					t.Errorf("fabric %+v: want site %s and driver lab", f, strings.Split(f.ID, "-")[0])
				}
				zones := getJSON[list[apiZone]](t, h, "/v1/fabrics/"+f.ID+"/zones")
				if len(zones.Items) != f.ZoneCount {
					t.Errorf("fabric %s: zoneCount %d, /zones lists %d", f.ID, f.ZoneCount, len(zones.Items))
				}
			}
		}},
		{"fabric", "/v1/fabrics/west-b", func(t *testing.T, r *response) {
			var o map[string]any = wantJSON[map[string]any](t, r, 200)
			requireKeys(t, "fabric", o, "id", "site", "driver", "zoneCount", "zoneDbBytes", "zoneDbMaxBytes", "lastCommitAt")
			f := wantJSON[apiFabric](t, r, 200)
			if f.ID != "west-b" || f.Site != "west" || f.ZoneCount <= 0 || f.ZoneDBBytes <= 0 || f.ZoneDBMaxBytes <= 0 {
				t.Errorf("fabric %+v", f)
			}
		}},
		{"logins", "/v1/fabrics/east-a/logins", func(t *testing.T, r *response) {
			for _, o := range items(t, r) {
				requireKeys(t, "login", o, "wwpn", "wwnn", "kind", "npiv", "switchPort")
				if o["npiv"] == true {
					requireKeys(t, "NPIV login", o, "physicalWWPN")
				}
			}
			l := wantJSON[list[apiLogin]](t, r, 200)
			physical := map[string]bool{}
			kinds := map[string]int{}
			for _, x := range l.Items {
				kinds[x.Kind]++
				if !x.NPIV {
					physical[x.WWPN] = true
				}
			}
			if kinds["initiator"] == 0 || kinds["target"] == 0 || len(kinds) != 2 {
				t.Errorf("login kinds %v, want only initiator and target, both present", kinds)
			}
			npiv := 0
			for _, x := range l.Items {
				switch {
				case x.NPIV:
					npiv++
					if x.Kind != "initiator" || !physical[x.PhysicalWWPN] {
						t.Errorf("NPIV login %+v: want an initiator carried by a physical port of the fabric", x)
					}
				case x.PhysicalWWPN != "":
					t.Errorf("login %+v has a physicalWWPN but is not NPIV", x)
				}
			}
			// set a of each of east's 12 VMs is logged in; set b waits
			if npiv != 12 {
				t.Errorf("%d NPIV logins on east-a, want 12", npiv)
			}
		}},
		{"zones", "/v1/fabrics/east-a/zones", func(t *testing.T, r *response) {
			for _, o := range items(t, r) {
				requireKeys(t, "zone", o, "name", "members", "owner", "users")
			}
			l := wantJSON[list[apiZone]](t, r, 200)
			var mine, external int
			for _, z := range l.Items {
				switch {
				case strings.HasPrefix(z.Name, "sm_"):
					if z.Owner != "sanmob" {
						t.Errorf("zone %s: owner %q, want sanmob", z.Name, z.Owner)
					}
					vm := "vm/" + strings.SplitN(strings.TrimPrefix(z.Name, "sm_"), "_", 2)[0]
					if !slices.Equal(z.Users, []string{vm}) {
						t.Errorf("zone %s: users %v, want [%s]", z.Name, z.Users, vm)
					}
					if strings.HasPrefix(z.Name, "sm_east-vm001_") {
						mine++
					}
				default:
					external++
					if z.Owner != "external" {
						t.Errorf("zone %s: owner %q, want external", z.Name, z.Owner)
					}
					if len(z.Users) != 0 {
						t.Errorf("admin zone %s: users %v, want none", z.Name, z.Users)
					}
				}
				if len(z.Members) == 0 {
					t.Errorf("zone %s has no members", z.Name)
				}
			}
			// 2 sets x 2 targets; the backup server's three zones
			if mine != 4 || external != 3 {
				t.Errorf("%d zones of east-vm001 and %d external zones, want 4 and 3", mine, external)
			}
		}},
		{"hosts", "/v1/hosts", func(t *testing.T, r *response) {
			for _, o := range items(t, r) {
				requireKeys(t, "host", o, "id", "name", "site", "hbas")
				for _, b := range subobjects(t, "hbas", o["hbas"]) {
					requireKeys(t, "hba", b, "wwpn", "wwnn", "fabric", "maxVports", "vportsInUse")
				}
			}
			l := wantJSON[list[apiHost]](t, r, 200)
			want := []string{"east-esx01", "east-esx02", "east-esx03", "east-esx04", "west-esx01", "west-esx02", "west-esx03", "west-esx04"}
			if got := ids(l.Items, func(h apiHost) string { return h.ID }); !slices.Equal(got, want) {
				t.Errorf("hosts %v, want %v", got, want)
			}
			for _, x := range l.Items {
				checkHost(t, x, npivOn)
			}
		}},
		{"host", "/v1/hosts/east-esx02", func(t *testing.T, r *response) {
			o := wantJSON[map[string]any](t, r, 200)
			requireKeys(t, "host", o, "id", "name", "site", "hbas")
			x := wantJSON[apiHost](t, r, 200)
			if x.ID != "east-esx02" || x.Site != "east" {
				t.Errorf("host %+v", x)
			}
			checkHost(t, x, npivOn)
			for _, b := range x.HBAs {
				// 12 VMs over 4 hosts: 3 set-a vports on each HBA
				if b.VportsInUse != 3 {
					t.Errorf("hba %s: vportsInUse %d, want 3", b.WWPN, b.VportsInUse)
				}
			}
		}},
		{"vms", "/v1/vms", func(t *testing.T, r *response) {
			for _, o := range items(t, r) {
				requireKeys(t, "vm", o, "id", "name", "host", "site", "vports", "volumes", "shares")
			}
			l := wantJSON[list[apiVM]](t, r, 200)
			var want []string
			for _, s := range []string{"east", "west"} {
				for i := 1; i <= 12; i++ {
					want = append(want, fmt.Sprintf("%s-vm%03d", s, i))
				}
			}
			if got := ids(l.Items, func(v apiVM) string { return v.ID }); !slices.Equal(got, want) {
				t.Errorf("vms %v, want %v", got, want)
			}
			if l.Continue != "" {
				t.Errorf("continue %q without a limit", l.Continue)
			}
		}},
		{"vm", "/v1/vms/east-vm001", func(t *testing.T, r *response) {
			o := wantJSON[map[string]any](t, r, 200)
			requireKeys(t, "vm", o, "id", "name", "host", "site", "vports", "volumes", "shares")
			for _, p := range subobjects(t, "vports", o["vports"]) {
				requireKeys(t, "vport", p, "fabric", "wwpn", "wwnn", "set", "active")
				if p["set"] == "a" {
					requireKeys(t, "logged-in vport", p, "loggedInAt")
				}
			}
			for _, v := range subobjects(t, "volumes", o["volumes"]) {
				requireKeys(t, "vm volume", v, "id", "lun")
			}
			vm := wantJSON[apiVM](t, r, 200)
			if vm.ID != "east-vm001" || vm.Host != "east-esx01" || vm.Site != "east" || vm.Shares <= 0 {
				t.Errorf("vm %+v", vm)
			}
			sets := map[string]bool{}
			for _, p := range vm.Vports {
				sets[p.Fabric+"/"+p.Set] = true
				switch p.Set {
				case "a":
					if !p.Active || !p.LoggedIn || p.LoggedInAt == nil || p.LoggedInAt.IsZero() {
						t.Errorf("set a vport %+v: want active and logged in with loggedInAt", p)
					}
				case "b":
					if p.Active || p.LoggedIn {
						t.Errorf("set b vport %+v: want inactive and logged out", p)
					}
				}
			}
			want := map[string]bool{"east-a/a": true, "east-a/b": true, "east-b/a": true, "east-b/b": true}
			if len(vm.Vports) != 4 || fmt.Sprint(sets) != fmt.Sprint(want) {
				t.Errorf("vports %+v: want sets a and b on east-a and east-b", vm.Vports)
			}
			wantVols := []apiVolumeRef{{"east-vm001-d0", 0}, {"east-vm001-d1", 1}}
			if !slices.Equal(vm.Volumes, wantVols) {
				t.Errorf("volumes %+v, want %+v", vm.Volumes, wantVols)
			}
		}},
		{"topology", "/v1/vms/east-vm001/topology", func(t *testing.T, r *response) {
			o := wantJSON[map[string]any](t, r, 200)
			requireKeys(t, "topology", o, "vm", "host", "site", "paths", "volumes")
			for _, p := range subobjects(t, "paths", o["paths"]) {
				requireKeys(t, "path", p, "fabric", "vportWWPN", "hbaWWPN", "zone", "targetPortWWPN", "array", "volume", "lun")
			}
			for _, v := range subobjects(t, "volumes", o["volumes"]) {
				requireKeys(t, "topology volume", v, "id", "array", "pool", "lun", "wwn", "sizeBytes", "usedBytes", "snapshots")
			}
			top := wantJSON[apiTopology](t, r, 200)
			checkTopology(t, h, top)
			if len(top.Issues) != 0 {
				t.Errorf("an untouched VM has issues: %q", top.Issues)
			}
			// 2 volumes x 2 fabrics x 2 sets x 2 targets
			if len(top.Paths) != 16 {
				t.Errorf("%d paths, want 16", len(top.Paths))
			}
		}},
		{"topology verified", "/v1/vms/west-vm007/topology?verify=true", func(t *testing.T, r *response) {
			top := wantJSON[apiTopology](t, r, 200)
			checkTopology(t, h, top)
			if len(top.Issues) != 0 || len(top.Paths) != 16 {
				t.Errorf("%d paths and issues %q, want 16 and none", len(top.Paths), top.Issues)
			}
		}},
		{"arrays", "/v1/arrays", func(t *testing.T, r *response) {
			for _, o := range items(t, r) {
				requireKeys(t, "array", o, "id", "targetPorts")
				for _, p := range subobjects(t, "targetPorts", o["targetPorts"]) {
					requireKeys(t, "target port", p, "wwpn", "fabric", "queueLimit")
				}
			}
			l := wantJSON[list[apiArray]](t, r, 200)
			if got := ids(l.Items, func(a apiArray) string { return a.ID }); !slices.Equal(got, []string{"east-arr1", "west-arr1"}) {
				t.Fatalf("arrays %v", got)
			}
			for _, a := range l.Items {
				checkArray(t, a, loginsOf)
			}
		}},
		{"array", "/v1/arrays/east-arr1", func(t *testing.T, r *response) {
			a := wantJSON[apiArray](t, r, 200)
			if a.ID != "east-arr1" || a.Site != "east" {
				t.Errorf("array %+v", a)
			}
			checkArray(t, a, loginsOf)
		}},
		{"pools", "/v1/pools", func(t *testing.T, r *response) {
			for _, o := range items(t, r) {
				requireKeys(t, "pool", o, "id", "array", "physicalBytes", "usedBytes", "provisionedBytes", "overcommit",
					"maxOvercommit", "usedPercent", "daysToFull", "forecast")
			}
			l := wantJSON[list[apiPool]](t, r, 200)
			want := []string{"east-arr1-pool1", "east-arr1-pool2", "west-arr1-pool1", "west-arr1-pool2"}
			if got := ids(l.Items, func(p apiPool) string { return p.ID }); !slices.Equal(got, want) {
				t.Errorf("pools %v, want %v", got, want)
			}
			for _, p := range l.Items {
				checkPool(t, p)
			}
		}},
		{"pools of an array", "/v1/pools?array=west-arr1", func(t *testing.T, r *response) {
			l := wantJSON[list[apiPool]](t, r, 200)
			if len(l.Items) != 2 {
				t.Errorf("%d pools of west-arr1, want 2", len(l.Items))
			}
			for _, p := range l.Items {
				if p.Array != "west-arr1" {
					t.Errorf("pool %+v is not west-arr1's", p)
				}
			}
		}},
		{"pool", "/v1/pools/east-arr1-pool2", func(t *testing.T, r *response) {
			p := wantJSON[apiPool](t, r, 200)
			if p.ID != "east-arr1-pool2" || p.Array != "east-arr1" {
				t.Errorf("pool %+v", p)
			}
			checkPool(t, p)
		}},
		{"volumes", "/v1/volumes", func(t *testing.T, r *response) {
			for _, o := range items(t, r) {
				requireKeys(t, "volume", o, "id", "name", "array", "pool", "sizeBytes", "usedBytes", "wwn", "thin")
			}
			l := wantJSON[list[apiVolume]](t, r, 200)
			if len(l.Items) != 48 {
				t.Errorf("%d volumes, want 48 (2 per VM)", len(l.Items))
			}
			if !sort.SliceIsSorted(l.Items, func(i, j int) bool { return l.Items[i].ID < l.Items[j].ID }) {
				t.Errorf("volumes are not in id order")
			}
			for _, v := range l.Items {
				checkVolume(t, v)
			}
		}},
		{"volume", "/v1/volumes/west-vm012-d1", func(t *testing.T, r *response) {
			v := wantJSON[apiVolume](t, r, 200)
			if v.ID != "west-vm012-d1" || v.Array != "west-arr1" {
				t.Errorf("volume %+v", v)
			}
			checkVolume(t, v)
		}},
		{"snapshots", "/v1/snapshots", func(t *testing.T, r *response) {
			l := wantJSON[list[apiSnapshot]](t, r, 200)
			// every volume has one or two
			if len(l.Items) < 48 || len(l.Items) > 96 {
				t.Errorf("%d snapshots, want 48-96", len(l.Items))
			}
			vols := map[string]bool{}
			for _, s := range l.Items {
				vols[s.Volume] = true
				if s.ID == "" || s.Array == "" || !strings.HasPrefix(s.ID, s.Volume) {
					t.Errorf("snapshot %+v", s)
				}
			}
			if len(vols) != 48 {
				t.Errorf("snapshots of %d volumes, want 48", len(vols))
			}
		}},
		{"snapshots of a volume", "/v1/snapshots?volume=east-vm003-d1", func(t *testing.T, r *response) {
			l := wantJSON[list[apiSnapshot]](t, r, 200)
			if len(l.Items) == 0 {
				t.Fatalf("no snapshots of east-vm003-d1")
			}
			for _, s := range l.Items {
				if s.Volume != "east-vm003-d1" || s.Array != "east-arr1" {
					t.Errorf("snapshot %+v is not east-vm003-d1's", s)
				}
			}
		}},
		{"hosts of a site", "/v1/hosts?site=west", func(t *testing.T, r *response) {
			l := wantJSON[list[apiHost]](t, r, 200)
			if len(l.Items) != 4 {
				t.Errorf("%d west hosts, want 4", len(l.Items))
			}
			for _, x := range l.Items {
				if x.Site != "west" {
					t.Errorf("host %s at %s", x.ID, x.Site)
				}
			}
		}},
		{"vms of a host", "/v1/vms?host=east-esx02", func(t *testing.T, r *response) {
			l := wantJSON[list[apiVM]](t, r, 200)
			if got := ids(l.Items, func(v apiVM) string { return v.ID }); !slices.Equal(got, []string{"east-vm002", "east-vm006", "east-vm010"}) {
				t.Errorf("vms on east-esx02: %v", got)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.with(t).get(server.RoleViewer, tc.path)
			tc.check(t, r)
			if r.Status == http.StatusOK {
				checkWWNs(t, tc.path, decodeAny(t, r))
			}
		})
	}
}

func checkHost(t *testing.T, x apiHost, npivOn map[string]int) {
	t.Helper()
	if len(x.HBAs) != 2 {
		t.Fatalf("host %s: %d hbas, want 2", x.ID, len(x.HBAs))
	}
	for i, b := range x.HBAs {
		if want := x.Site + "-" + []string{"a", "b"}[i]; b.Fabric != want {
			t.Errorf("host %s hba %d: fabric %q, want %q", x.ID, i, b.Fabric, want)
		}
		if b.MaxVports != 64 {
			t.Errorf("host %s hba %s: maxVports %d, want 64", x.ID, b.WWPN, b.MaxVports)
		}
		if b.VportsInUse != npivOn[b.WWPN] || b.VportsInUse == 0 {
			t.Errorf("host %s hba %s: vportsInUse %d, the name server carries %d NPIV logins on it", x.ID, b.WWPN, b.VportsInUse, npivOn[b.WWPN])
		}
	}
}

func checkArray(t *testing.T, a apiArray, loginsOf map[string][]apiLogin) {
	t.Helper()
	if len(a.TargetPorts) != 8 {
		t.Errorf("array %s: %d target ports, want 8", a.ID, len(a.TargetPorts))
	}
	perFabric := map[string]int{}
	for _, p := range a.TargetPorts {
		perFabric[p.Fabric]++
		if p.QueueLimit <= 0 {
			t.Errorf("array %s port %s: queueLimit %d", a.ID, p.WWPN, p.QueueLimit)
		}
		found := false
		for _, l := range loginsOf[p.Fabric] {
			if l.WWPN == p.WWPN && l.Kind == "target" {
				found = true
			}
		}
		if !found {
			t.Errorf("array %s port %s: fabric %q, but it is not a target login there", a.ID, p.WWPN, p.Fabric)
		}
	}
	if perFabric[a.Site+"-a"] != 4 || perFabric[a.Site+"-b"] != 4 {
		t.Errorf("array %s: ports per fabric %v, want 4 on each of its site's fabrics", a.ID, perFabric)
	}
}

func checkPool(t *testing.T, p apiPool) {
	t.Helper()
	if p.PhysicalBytes <= 0 || p.ProvisionedBytes <= 0 || p.UsedBytes <= 0 || p.UsedBytes > p.PhysicalBytes {
		t.Errorf("pool %+v: implausible capacity", p)
		return
	}
	if oc := float64(p.ProvisionedBytes) / float64(p.PhysicalBytes); !near(p.Overcommit, oc, 0.006) {
		t.Errorf("pool %s: overcommit %v, provisioned/physical = %v", p.ID, p.Overcommit, oc)
	}
	if up := 100 * float64(p.UsedBytes) / float64(p.PhysicalBytes); !near(p.UsedPercent, up, 0.006) {
		t.Errorf("pool %s: usedPercent %v, 100*used/physical = %v", p.ID, p.UsedPercent, up)
	}
	if p.MaxOvercommit <= 0 || !strings.HasPrefix(p.ID, p.Array+"-") {
		t.Errorf("pool %+v", p)
	}
}

func checkVolume(t *testing.T, v apiVolume) {
	t.Helper()
	if v.Name == "" || v.SizeBytes <= 0 || v.UsedBytes <= 0 || v.UsedBytes > v.SizeBytes || !v.Thin ||
		!strings.HasPrefix(v.WWN, "naa.6") || !strings.HasPrefix(v.Pool, v.Array+"-pool") {
		t.Errorf("volume %+v", v)
	}
}

// checkTopology checks every path against the VM, its host and its array as
// the API shows them.
func checkTopology(t *testing.T, h *harness, top apiTopology) {
	t.Helper()
	vm := getJSON[apiVM](t, h, "/v1/vms/"+top.VM)
	host := getJSON[apiHost](t, h, "/v1/hosts/"+vm.Host)
	if top.Host != vm.Host || top.Site != vm.Site {
		t.Errorf("topology of %s: host %q site %q, the VM says %q %q", top.VM, top.Host, top.Site, vm.Host, vm.Site)
	}
	vports := map[string]apiVport{}
	for _, p := range vm.Vports {
		vports[p.WWPN] = p
	}
	hbaOn := map[string]string{}
	for _, b := range host.HBAs {
		hbaOn[b.Fabric] = b.WWPN
	}
	luns := map[string]int{}
	for _, v := range vm.Volumes {
		luns[v.ID] = v.LUN
	}
	ports := map[string]string{} // target port → fabric, per array
	for _, a := range getJSON[list[apiArray]](t, h, "/v1/arrays").Items {
		for _, p := range a.TargetPorts {
			ports[a.ID+"/"+p.WWPN] = p.Fabric
		}
	}
	for _, p := range top.Paths {
		vp, ok := vports[p.VportWWPN]
		switch {
		case !ok:
			t.Errorf("path %+v: vportWWPN is not one of the VM's vports", p)
		case vp.Fabric != p.Fabric:
			t.Errorf("path %+v: the vport is on fabric %s", p, vp.Fabric)
		}
		if p.HBAWWPN != hbaOn[p.Fabric] {
			t.Errorf("path %+v: hbaWWPN, want the host's HBA %s on %s", p, hbaOn[p.Fabric], p.Fabric)
		}
		if !strings.HasPrefix(p.Zone, "sm_"+top.VM+"_") {
			t.Errorf("path %+v: zone is not one of the VM's", p)
		}
		if f, ok := ports[p.Array+"/"+p.TargetPortWWPN]; !ok || f != p.Fabric {
			t.Errorf("path %+v: targetPortWWPN is not a port of %s on %s", p, p.Array, p.Fabric)
		}
		if lun, ok := luns[p.Volume]; !ok || lun != p.LUN {
			t.Errorf("path %+v: volume/lun are not the VM's (%v)", p, luns)
		}
	}
	if len(top.Volumes) != len(vm.Volumes) {
		t.Errorf("topology has %d volumes, the VM %d", len(top.Volumes), len(vm.Volumes))
	}
	for _, v := range top.Volumes {
		if v.Array == "" || v.Pool == "" || !strings.HasPrefix(v.WWN, "naa.6") || v.SizeBytes <= 0 || v.LUN != luns[v.ID] {
			t.Errorf("topology volume %+v", v)
		}
		snaps := getJSON[list[apiSnapshot]](t, h, "/v1/snapshots?volume="+v.ID)
		if len(v.Snapshots) == 0 || len(v.Snapshots) != len(snaps.Items) {
			t.Errorf("topology volume %s: %d snapshots, /v1/snapshots?volume= lists %d", v.ID, len(v.Snapshots), len(snaps.Items))
		}
	}
}

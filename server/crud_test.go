package server_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/server"
)

var validID = regexp.MustCompile(`^[a-z0-9-]{1,63}$`)

// TestHostVMRoundTrip creates, reads, changes and deletes a host and a VM
// through the API.
func TestHostVMRoundTrip(t *testing.T) {
	h := newHarness(t)
	admin := server.RoleAdmin

	// WWPNs in two other notations: the API must print them canonically.
	r := h.do(admin, "POST", "/v1/hosts", map[string]any{"id": "crud-host", "name": "crud", "site": "east", "hbas": []map[string]any{
		{"wwpn": "10000000C9AB0001", "wwnn": "0x20000000c9ab0001", "fabric": "east-a"},
		{"wwpn": "10-00-00-00-c9-ab-00-02", "wwnn": "20:00:00:00:c9:ab:00:02", "fabric": "east-b", "maxVports": 32},
	}})
	created := wantJSON[apiHost](t, r, http.StatusCreated)
	if loc := r.Header.Get("Location"); loc != "/v1/hosts/crud-host" {
		t.Errorf("Location %q, want /v1/hosts/crud-host", loc)
	}
	want := apiHost{ID: "crud-host", Name: "crud", Site: "east", HBAs: []apiHBA{
		{WWPN: "10:00:00:00:c9:ab:00:01", WWNN: "20:00:00:00:c9:ab:00:01", Fabric: "east-a", MaxVports: 64},
		{WWPN: "10:00:00:00:c9:ab:00:02", WWNN: "20:00:00:00:c9:ab:00:02", Fabric: "east-b", MaxVports: 32},
	}}
	checkHostEqual(t, "created", created, want)
	checkHostEqual(t, "GET", getJSON[apiHost](t, h, "/v1/hosts/crud-host"), want)
	if hosts := getJSON[list[apiHost]](t, h, "/v1/hosts?site=east"); !slices.Contains(ids(hosts.Items, func(x apiHost) string { return x.ID }), "crud-host") {
		t.Errorf("crud-host is not listed at east")
	}

	r = h.send(request{role: admin, method: "PATCH", path: "/v1/hosts/crud-host", body: rawBody(`{"name":"renamed"}`), contentType: "application/merge-patch+json"})
	want.Name = "renamed"
	checkHostEqual(t, "patched", wantJSON[apiHost](t, r, http.StatusOK), want)
	checkHostEqual(t, "GET after PATCH", getJSON[apiHost](t, h, "/v1/hosts/crud-host"), want)

	// A VM without vports gets an NPIV pair on each of the host's fabrics.
	r = h.do(admin, "POST", "/v1/vms", map[string]any{"id": "crud-vm", "name": "crud vm", "host": "crud-host"})
	vm := wantJSON[apiVM](t, r, http.StatusCreated)
	if loc := r.Header.Get("Location"); loc != "/v1/vms/crud-vm" {
		t.Errorf("Location %q, want /v1/vms/crud-vm", loc)
	}
	if vm.ID != "crud-vm" || vm.Name != "crud vm" || vm.Host != "crud-host" || vm.Site != "east" || vm.Shares != 1000 || len(vm.Volumes) != 0 {
		t.Errorf("created vm %+v", vm)
	}
	checkGeneratedVports(t, h, vm)
	got := getJSON[apiVM](t, h, "/v1/vms/crud-vm")
	if !slices.Equal(got.Vports, vm.Vports) || got.Host != "crud-host" {
		t.Errorf("GET vm %+v, created %+v", got, vm)
	}

	// The host runs a VM now.
	wantProblem(t, h.do(admin, "DELETE", "/v1/hosts/crud-host", nil), http.StatusConflict)

	r = h.do(admin, "PATCH", "/v1/vms/crud-vm", map[string]any{"host": "east-esx02"})
	moved := wantJSON[apiVM](t, r, http.StatusOK)
	if moved.Host != "east-esx02" || moved.Site != "east" || !slices.Equal(moved.Vports, vm.Vports) || moved.Name != "crud vm" {
		t.Errorf("moved vm %+v: want host east-esx02 with the same vports", moved)
	}
	if got := getJSON[apiVM](t, h, "/v1/vms/crud-vm"); got.Host != "east-esx02" {
		t.Errorf("GET after PATCH: host %q", got.Host)
	}
	onHost := getJSON[list[apiVM]](t, h, "/v1/vms?host=east-esx02")
	if !slices.Contains(ids(onHost.Items, func(v apiVM) string { return v.ID }), "crud-vm") {
		t.Errorf("crud-vm not listed on east-esx02")
	}

	r = h.do(admin, "DELETE", "/v1/vms/crud-vm", nil)
	if r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("%v: want 204 and no body", r)
	}
	wantProblem(t, h.get(admin, "/v1/vms/crud-vm"), http.StatusNotFound)
	wantProblem(t, h.do(admin, "DELETE", "/v1/vms/crud-vm", nil), http.StatusNotFound)

	r = h.do(admin, "DELETE", "/v1/hosts/crud-host", nil)
	if r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("%v: want 204 and no body", r)
	}
	wantProblem(t, h.get(admin, "/v1/hosts/crud-host"), http.StatusNotFound)
	if hosts := getJSON[list[apiHost]](t, h, "/v1/hosts"); len(hosts.Items) != 8 {
		t.Errorf("%d hosts after the delete, want 8", len(hosts.Items))
	}

	// The deleted host's WWPNs are free again.
	r = h.do(admin, "POST", "/v1/hosts", map[string]any{"id": "crud-host2", "site": "east", "hbas": []map[string]any{
		{"wwpn": "10:00:00:00:c9:ab:00:01", "wwnn": "20:00:00:00:c9:ab:00:01", "fabric": "east-a"}}})
	if c := wantJSON[apiHost](t, r, http.StatusCreated); c.Name != "crud-host2" {
		t.Errorf("a host created without a name is named %q, want its id", c.Name)
	}
}

func checkHostEqual(t *testing.T, what string, got, want apiHost) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.Site != want.Site || !slices.Equal(got.HBAs, want.HBAs) {
		t.Errorf("%s host:\n got %+v\nwant %+v", what, got, want)
	}
}

// checkGeneratedVports checks sanmob's generated NPIV names: a pair per
// fabric, NAA 5, unique, and colliding with nothing in the lab or inventory.
func checkGeneratedVports(t *testing.T, h *harness, vm apiVM) {
	t.Helper()
	sets := map[string]int{}
	for _, p := range vm.Vports {
		sets[p.Fabric+"/"+p.Set]++
		if !canonicalWWN.MatchString(p.WWPN) || !canonicalWWN.MatchString(p.WWNN) {
			t.Errorf("vport %+v: WWNs not canonical", p)
		}
		if p.WWPN[0] != '5' || p.WWNN[0] != '5' {
			t.Errorf("vport %+v: want NAA 5 names", p)
		}
		if p.Active != (p.Set == "a") {
			t.Errorf("vport %+v: want set a active and set b standing by", p)
		}
		if p.LoggedIn {
			t.Errorf("vport %+v: a new vport cannot be logged in", p)
		}
	}
	want := map[string]int{"east-a/a": 1, "east-a/b": 1, "east-b/a": 1, "east-b/b": 1}
	if len(vm.Vports) != 4 || len(sets) != 4 || !mapsEqual(sets, want) {
		t.Errorf("vports %+v: want sets a and b on east-a and east-b", vm.Vports)
	}
	// every name the lab and the inventory already use
	taken := map[string]string{}
	for _, f := range []string{"east-a", "east-b", "west-a", "west-b"} {
		for _, l := range getJSON[list[apiLogin]](t, h, "/v1/lab/fabrics/"+f+"/logins").Items {
			taken[l.WWPN] = "login on " + f
			taken[l.WWNN] = "login on " + f
		}
	}
	for _, v := range getJSON[list[apiVM]](t, h, "/v1/vms").Items {
		if v.ID == vm.ID {
			continue
		}
		for _, p := range v.Vports {
			taken[p.WWPN] = "vm " + v.ID
			taken[p.WWNN] = "vm " + v.ID
		}
	}
	for _, x := range getJSON[list[apiHost]](t, h, "/v1/hosts").Items {
		for _, b := range x.HBAs {
			taken[b.WWPN] = "host " + x.ID
		}
	}
	seen := map[string]bool{}
	for _, p := range vm.Vports {
		for _, w := range []string{p.WWPN, p.WWNN} {
			if seen[w] {
				t.Errorf("generated name %s used twice", w)
			}
			seen[w] = true
			if who, ok := taken[w]; ok {
				t.Errorf("generated name %s is already the %s's", w, who)
			}
		}
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestCreateIDs checks that a client-chosen id is kept and an omitted one is
// made by the server.
func TestCreateIDs(t *testing.T) {
	h := newHarness(t)
	hba := func(n string) []map[string]any {
		return []map[string]any{{"wwpn": "10:00:00:00:c9:cd:00:" + n, "wwnn": "20:00:00:00:c9:cd:00:" + n, "fabric": "west-a"}}
	}
	tests := []struct {
		name       string
		collection string
		body       map[string]any
		wantID     string // empty: any valid id the server makes
	}{
		{"host with id", "/v1/hosts", map[string]any{"id": "my-host-1", "site": "west", "hbas": hba("01")}, "my-host-1"},
		{"host with a 63-char id", "/v1/hosts", map[string]any{"id": strings.Repeat("h", 63), "site": "west", "hbas": hba("02")}, strings.Repeat("h", 63)},
		{"host without id", "/v1/hosts", map[string]any{"site": "west", "hbas": hba("03")}, ""},
		{"host with an empty id", "/v1/hosts", map[string]any{"id": "", "site": "west", "hbas": hba("04")}, ""},
		{"vm with id", "/v1/vms", map[string]any{"id": "0-my-vm", "host": "west-esx03"}, "0-my-vm"},
		{"vm without id", "/v1/vms", map[string]any{"name": "anonymous", "host": "west-esx03"}, ""},
	}
	made := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hh := h.with(t)
			r := hh.do(server.RoleAdmin, "POST", tc.collection, tc.body)
			obj := wantJSON[map[string]any](t, r, http.StatusCreated)
			id, _ := obj["id"].(string)
			switch {
			case tc.wantID != "" && id != tc.wantID:
				t.Errorf("id %q, want the client's %q", id, tc.wantID)
			case !validID.MatchString(id):
				t.Errorf("server-made id %q is not a valid id", id)
			case made[id]:
				t.Errorf("id %q handed out twice", id)
			}
			made[id] = true
			if loc := r.Header.Get("Location"); loc != tc.collection+"/"+id {
				t.Errorf("Location %q, want %s/%s", loc, tc.collection, id)
			}
			got := getJSON[map[string]any](t, hh, tc.collection+"/"+url.PathEscape(id))
			if got["id"] != id {
				t.Errorf("GET %s/%s: id %v", tc.collection, id, got["id"])
			}
		})
	}
}

// TestPagination follows continue tokens through lists.
func TestPagination(t *testing.T) {
	h := newHarness(t)
	all := func(path string) []string {
		l := getJSON[list[map[string]any]](t, h, path)
		if l.Continue != "" {
			t.Fatalf("%s: continue %q without a limit", path, l.Continue)
		}
		var out []string
		for _, o := range l.Items {
			out = append(out, o["id"].(string))
		}
		return out
	}
	tests := []struct {
		name      string
		path      string // without limit
		limit     string
		wantPages []int
	}{
		{"vms by 10", "/v1/vms", "10", []int{10, 10, 4}},
		{"vms by 12", "/v1/vms", "12", []int{12, 12}},
		{"vms by 24", "/v1/vms", "24", []int{24}},
		{"vms by 1000", "/v1/vms", "1000", []int{24}},
		{"vms by 7", "/v1/vms", "7", []int{7, 7, 7, 3}},
		{"west vms by 5", "/v1/vms?site=west", "5", []int{5, 5, 2}},
		{"hosts by 1", "/v1/hosts", "1", []int{1, 1, 1, 1, 1, 1, 1, 1}},
		{"volumes by 20", "/v1/volumes", "20", []int{20, 20, 8}},
		{"snapshots of a volume by 1", "/v1/snapshots?volume=east-vm001-d0", "1", nil},
		{"snapshots by 30", "/v1/snapshots", "30", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hh := h.with(t)
			want := all(tc.path)
			sep := "?"
			if strings.Contains(tc.path, "?") {
				sep = "&"
			}
			var got []string
			var pages []int
			cont := ""
			for i := 0; ; i++ {
				if i > 100 {
					t.Fatalf("more than 100 pages")
				}
				p := tc.path + sep + "limit=" + tc.limit
				if cont != "" {
					p += "&continue=" + url.QueryEscape(cont)
				}
				l := getJSON[list[map[string]any]](t, hh, p)
				pages = append(pages, len(l.Items))
				for _, o := range l.Items {
					got = append(got, o["id"].(string))
				}
				if l.Continue == "" {
					break
				}
				if l.Continue == cont {
					t.Fatalf("page %d handed back the same continue token", i)
				}
				cont = l.Continue
			}
			if !slices.Equal(got, want) {
				t.Errorf("pages visited\n %v\nwant\n %v", got, want)
			}
			if !slices.IsSorted(got) {
				t.Errorf("pages not in id order: %v", got)
			}
			if tc.wantPages != nil && !slices.Equal(pages, tc.wantPages) {
				t.Errorf("page sizes %v, want %v", pages, tc.wantPages)
			}
			if tc.wantPages == nil {
				n, err := strconv.Atoi(tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				for i, size := range pages {
					if size > n || (i < len(pages)-1 && size != n) {
						t.Errorf("page sizes %v with limit %d", pages, n)
					}
				}
			}
		})
	}

	t.Run("first page", func(t *testing.T) {
		l := getJSON[list[apiVM]](t, h.with(t), "/v1/vms?limit=10")
		if len(l.Items) != 10 || l.Continue == "" {
			t.Fatalf("%d items, continue %q: want 10 and a token", len(l.Items), l.Continue)
		}
		if l.Items[0].ID != "east-vm001" || l.Items[9].ID != "east-vm010" {
			t.Errorf("first page %s..%s", l.Items[0].ID, l.Items[9].ID)
		}
	})
}

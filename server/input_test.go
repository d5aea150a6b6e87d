package server_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/server"
)

// hostBody is a valid host at east with one HBA on each fabric.
func hostBody(id, wwpnA, wwpnB string) map[string]any {
	b := map[string]any{"site": "east", "name": "test host", "hbas": []map[string]any{
		{"wwpn": wwpnA, "wwnn": "20:00:00:00:c9:00:00:0a", "fabric": "east-a"},
		{"wwpn": wwpnB, "wwnn": "20:00:00:00:c9:00:00:0b", "fabric": "east-b"},
	}}
	if id != "" {
		b["id"] = id
	}
	return b
}

// validHost is the JSON of a host that POST /v1/hosts accepts; n makes its
// WWPN unique.
func validHost(id, n string) string {
	return `{"id":"` + id + `","site":"east","hbas":[{"wwpn":"10:00:00:00:c9:00:f0:` + n + `","wwnn":"20:00:00:00:c9:00:f0:` + n + `","fabric":"east-a"}]}`
}

// TestBadInput sends requests the API must refuse and checks the status, the
// problem+json body and, where the API names it, the offending field.
func TestBadInput(t *testing.T) {
	h := newHarness(t)
	// a host that exists, for the conflicts
	r := h.do(server.RoleAdmin, "POST", "/v1/hosts", hostBody("dup-host", "10:00:00:00:c9:00:01:0a", "10:00:00:00:c9:00:01:0b"))
	wantJSON[apiHost](t, r, http.StatusCreated)
	// the first HBA of a discovered host
	esx01 := getJSON[apiHost](t, h, "/v1/hosts/east-esx01")
	// a target port of the east array, as the name server sees it
	var targetPort string
	eastA, _ := h.world.Switch("east-a")
	for _, l := range eastA.TruthLogins() {
		if l.Kind == "target" {
			targetPort = l.WWPN.String()
			break
		}
	}

	big := `{"name":"` + strings.Repeat("x", 1<<20) + `"}`
	tests := []struct {
		name        string
		method      string
		path        string
		body        any
		contentType string
		want        int
		param       string // the invalid-params name, when the API must name one
		detail      string // a substring of the detail
	}{
		{name: "bad wwpn", method: "POST", path: "/v1/hosts",
			body: hostBody("bad-wwpn", "10:00:00:00:c9:00:02:zz", "10:00:00:00:c9:00:02:0b"), want: 400, param: "hbas[0].wwpn", detail: "10:00:00:00:c9:00:02:zz"},
		{name: "bad wwpn of the second hba", method: "POST", path: "/v1/hosts",
			body: hostBody("bad-wwpn2", "10:00:00:00:c9:00:02:0a", "10:00:00:00:c9:00:02"), want: 400, param: "hbas[1].wwpn", detail: "10:00:00:00:c9:00:02"},
		{name: "bad wwnn", method: "POST", path: "/v1/hosts", want: 400, param: "hbas[0].wwnn",
			body: map[string]any{"id": "bad-wwnn", "site": "east", "hbas": []map[string]any{{"wwpn": "10:00:00:00:c9:00:03:0a", "wwnn": "nope", "fabric": "east-a"}}}},
		{name: "missing wwpn", method: "POST", path: "/v1/hosts", want: 400, param: "hbas[0].wwpn",
			body: map[string]any{"id": "no-wwpn", "site": "east", "hbas": []map[string]any{{"wwnn": "20:00:00:00:c9:00:03:0a", "fabric": "east-a"}}}},
		{name: "unknown field", method: "POST", path: "/v1/hosts", want: 400, param: "color",
			body: rawBody(strings.Replace(validHost("unknown-field", "10"), `"site"`, `"color":"blue","site"`, 1))},
		{name: "wrong type", method: "POST", path: "/v1/hosts", want: 400,
			body: rawBody(`{"id":"wrong-type","site":7}`)},
		{name: "malformed json", method: "POST", path: "/v1/hosts", want: 400, body: rawBody(`{"id": "x",`)},
		{name: "not json", method: "POST", path: "/v1/hosts", want: 400, body: rawBody(`id=x`)},
		// the first value alone would create a host
		{name: "trailing garbage", method: "POST", path: "/v1/hosts", want: 400,
			body: rawBody(validHost("trailing", "0d") + ` xyz`)},
		{name: "trailing brace", method: "POST", path: "/v1/hosts", want: 400,
			body: rawBody(validHost("brace", "12") + `}`)},
		{name: "trailing bracket", method: "POST", path: "/v1/hosts", want: 400,
			body: rawBody(validHost("bracket", "13") + `]`)},
		{name: "wrong type in an array element", method: "POST", path: "/v1/hosts", want: 400, param: "hbas[1].maxVports",
			body: rawBody(`{"id":"typed","site":"east","hbas":[{"wwpn":"10:00:00:00:c9:00:04:0a","wwnn":"20:00:00:00:c9:00:04:0a","fabric":"east-a","maxVports":8},{"wwpn":"10:00:00:00:c9:00:04:0b","wwnn":"20:00:00:00:c9:00:04:0b","fabric":"east-b","maxVports":"many"}]}`)},
		{name: "content type case", method: "POST", path: "/v1/hosts", want: 400, contentType: "Application/JSON; charset=utf-8",
			body: rawBody(`{"id": "x",`)},
		{name: "content type prefix", method: "POST", path: "/v1/hosts", want: 415, contentType: "application/jsonx",
			body: rawBody(validHost("jsonx", "14"))},
		{name: "target port as an HBA", method: "POST", path: "/v1/hosts", want: 409,
			body: hostBody("stolen", targetPort, "10:00:00:00:c9:00:05:0b"), detail: "target port"},
		{name: "two values", method: "POST", path: "/v1/hosts", want: 400,
			body: rawBody(validHost("two", "0e") + ` ` + validHost("three", "0f"))},
		{name: "empty body", method: "POST", path: "/v1/hosts", want: 400, body: rawBody(``)},
		{name: "empty body on a vm", method: "POST", path: "/v1/vms", want: 400, body: rawBody(``), contentType: "application/json"},
		{name: "body over 1 MiB", method: "POST", path: "/v1/hosts", want: 413, body: rawBody(big)},
		{name: "body over 1 MiB on a patch", method: "PATCH", path: "/v1/vms/east-vm001", want: 413, body: rawBody(big)},
		{name: "text/plain", method: "POST", path: "/v1/hosts", want: 415, contentType: "text/plain",
			body: rawBody(validHost("plain", "11"))},
		{name: "form", method: "PATCH", path: "/v1/vms/east-vm001", want: 415, contentType: "application/x-www-form-urlencoded",
			body: rawBody(`name=x`)},
		{name: "duplicate host id", method: "POST", path: "/v1/hosts", want: 409, detail: "dup-host",
			body: hostBody("dup-host", "10:00:00:00:c9:00:04:0a", "10:00:00:00:c9:00:04:0b")},
		{name: "discovered host id", method: "POST", path: "/v1/hosts", want: 409, detail: "east-esx03",
			body: hostBody("east-esx03", "10:00:00:00:c9:00:05:0a", "10:00:00:00:c9:00:05:0b")},
		{name: "wwpn of another host", method: "POST", path: "/v1/hosts", want: 409, detail: "host/east-esx01",
			body: hostBody("thief", esx01.HBAs[0].WWPN, "10:00:00:00:c9:00:06:0b")},
		{name: "wwpn of another host in another notation", method: "POST", path: "/v1/hosts", want: 409, detail: "host/dup-host",
			body: hostBody("thief2", "10-00-00-00-C9-00-01-0A", "10:00:00:00:c9:00:06:1b")},
		{name: "wwpn twice", method: "POST", path: "/v1/hosts", want: 400, param: "hbas[1].wwpn",
			body: hostBody("twice", "10:00:00:00:c9:00:07:0a", "10:00:00:00:c9:00:07:0a")},
		{name: "uppercase id", method: "POST", path: "/v1/hosts", want: 400, param: "id",
			body: hostBody("Upper", "10:00:00:00:c9:00:08:0a", "10:00:00:00:c9:00:08:0b")},
		{name: "id of 64 chars", method: "POST", path: "/v1/hosts", want: 400, param: "id",
			body: hostBody(strings.Repeat("a", 64), "10:00:00:00:c9:00:09:0a", "10:00:00:00:c9:00:09:0b")},
		{name: "id with underscore", method: "POST", path: "/v1/hosts", want: 400, param: "id",
			body: hostBody("a_b", "10:00:00:00:c9:00:0a:0a", "10:00:00:00:c9:00:0a:0b")},
		{name: "vm id uppercase", method: "POST", path: "/v1/vms", want: 400, param: "id",
			body: map[string]any{"id": "VM1", "host": "east-esx01"}},
		{name: "unknown site", method: "POST", path: "/v1/hosts", want: 400, param: "site",
			body: map[string]any{"id": "nowhere", "site": "north", "hbas": []map[string]any{{"wwpn": "10:00:00:00:c9:00:0b:0a", "wwnn": "20:00:00:00:c9:00:0b:0a", "fabric": "east-a"}}}},
		{name: "fabric of another site", method: "POST", path: "/v1/hosts", want: 400, param: "hbas[0].fabric",
			body: map[string]any{"id": "far", "site": "east", "hbas": []map[string]any{{"wwpn": "10:00:00:00:c9:00:0c:0a", "wwnn": "20:00:00:00:c9:00:0c:0a", "fabric": "west-a"}}}},
		{name: "no hbas", method: "POST", path: "/v1/hosts", want: 400, param: "hbas",
			body: map[string]any{"id": "no-hbas", "site": "east"}},
		{name: "vm on an unknown host", method: "POST", path: "/v1/vms", want: 400, param: "host",
			body: map[string]any{"id": "homeless", "host": "nope"}},
		{name: "unknown vm", method: "GET", path: "/v1/vms/nope", want: 404, detail: "nope"},
		{name: "unknown vm topology", method: "GET", path: "/v1/vms/nope/topology", want: 404, detail: "nope"},
		{name: "unknown host", method: "GET", path: "/v1/hosts/nope", want: 404},
		{name: "unknown fabric", method: "GET", path: "/v1/fabrics/nope", want: 404},
		{name: "unknown fabric logins", method: "GET", path: "/v1/fabrics/nope/logins", want: 404},
		{name: "unknown fabric zones", method: "GET", path: "/v1/fabrics/nope/zones", want: 404},
		{name: "unknown array", method: "GET", path: "/v1/arrays/nope", want: 404},
		{name: "unknown pool", method: "GET", path: "/v1/pools/nope", want: 404},
		{name: "unknown volume", method: "GET", path: "/v1/volumes/nope", want: 404},
		{name: "unknown site", method: "GET", path: "/v1/sites/nope", want: 404},
		{name: "hosts of an unknown site", method: "GET", path: "/v1/hosts?site=nope", want: 404},
		{name: "vms of an unknown host", method: "GET", path: "/v1/vms?host=nope", want: 404},
		{name: "pools of an unknown array", method: "GET", path: "/v1/pools?array=nope", want: 404},
		{name: "patch an unknown vm", method: "PATCH", path: "/v1/vms/nope", body: map[string]any{"name": "x"}, want: 404},
		{name: "delete an unknown vm", method: "DELETE", path: "/v1/vms/nope", want: 404},
		{name: "delete an unknown host", method: "DELETE", path: "/v1/hosts/nope", want: 404},
		{name: "unknown route", method: "GET", path: "/v1/nothing-here", want: 404, detail: "no route"},
		{name: "unknown route below a resource", method: "GET", path: "/v1/vms/east-vm001/nothing", want: 404, detail: "no route"},
		{name: "unknown route outside v1", method: "GET", path: "/v2/vms", want: 404, detail: "no route"},
		{name: "wrong method on a collection", method: "PUT", path: "/v1/vms", want: 405},
		{name: "wrong method on an item", method: "POST", path: "/v1/vms/east-vm001", want: 405},
		{name: "delete a fabric", method: "DELETE", path: "/v1/fabrics/east-a", want: 405},
		{name: "limit 0", method: "GET", path: "/v1/vms?limit=0", want: 400, param: "limit"},
		{name: "limit abc", method: "GET", path: "/v1/vms?limit=abc", want: 400, param: "limit"},
		{name: "limit negative", method: "GET", path: "/v1/hosts?limit=-1", want: 400, param: "limit"},
		{name: "limit too large", method: "GET", path: "/v1/volumes?limit=10001", want: 400, param: "limit"},
		{name: "bad continue", method: "GET", path: "/v1/vms?continue=!!not-a-token!!", want: 400, param: "continue"},
		{name: "bad continue on snapshots", method: "GET", path: "/v1/snapshots?continue=%25%25", want: 400, param: "continue"},
		{name: "verify maybe", method: "GET", path: "/v1/vms/east-vm001/topology?verify=maybe", want: 400, param: "verify"},
		{name: "delete a host that runs vms", method: "DELETE", path: "/v1/hosts/east-esx01", want: 409, detail: "east-esx01"},
		{name: "shares 0", method: "PATCH", path: "/v1/vms/east-vm001", body: map[string]any{"shares": 0}, want: 400, param: "shares"},
		{name: "shares too many", method: "PATCH", path: "/v1/vms/east-vm001", body: map[string]any{"shares": 10001}, want: 400, param: "shares"},
		{name: "vports emptied", method: "PATCH", path: "/v1/vms/east-vm001", body: map[string]any{"vports": []any{}}, want: 400, param: "vports"},
		{name: "vm moved to another site by patch", method: "PATCH", path: "/v1/vms/east-vm001", body: map[string]any{"host": "west-esx01"}, want: 400},
		{name: "vm to an unknown host", method: "PATCH", path: "/v1/vms/east-vm001", body: map[string]any{"host": "nope"}, want: 400, param: "host"},
		{name: "host site change while running vms", method: "PATCH", path: "/v1/hosts/east-esx01", body: map[string]any{"site": "west"}, want: 409},
		{name: "move to an unknown host", method: "POST", path: "/v1/migrations", body: map[string]any{"vm": "east-vm001", "destinationHost": "nope-esx99"}, want: 404, param: "destinationHost"},
		{name: "move of an unknown vm", method: "POST", path: "/v1/migrations", body: map[string]any{"vm": "nope", "destinationHost": "east-esx02", "dryRun": true}, want: 404, param: "vm"},
		{name: "move to an unknown array", method: "POST", path: "/v1/migrations", body: map[string]any{"vm": "east-vm001", "destinationHost": "west-esx02", "destinationArray": "nope", "dryRun": true}, want: 404, param: "destinationArray"},
		{name: "move to a long unknown host", method: "POST", path: "/v1/migrations", body: map[string]any{"vm": "east-vm001", "destinationHost": strings.Repeat("h", 10000)}, want: 404, param: "destinationHost", detail: "…"},
		{name: "evacuate to an unknown host", method: "POST", path: "/v1/evacuations", body: map[string]any{"host": "west-esx03", "destinationHosts": []string{"west-esx01", "nope"}}, want: 404, param: "destinationHosts[1]"},
		{name: "evacuate an unknown host", method: "POST", path: "/v1/evacuations", body: map[string]any{"host": "nope", "destinationHosts": []string{"west-esx01"}}, want: 404, param: "host"},
		{name: "volume in a pool of another site", method: "POST", path: "/v1/volumes", body: map[string]any{"name": "m", "sizeBytes": 1 << 30, "site": "east", "pool": "west-arr1-pool1"}, want: 400, param: "pool", detail: "site west"},
		{name: "volume in an unknown pool", method: "POST", path: "/v1/volumes", body: map[string]any{"name": "m", "sizeBytes": 1 << 30, "pool": "nope"}, want: 404, param: "pool"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.with(t).send(request{role: server.RoleAdmin, method: tc.method, path: tc.path, body: tc.body, contentType: tc.contentType})
			p := wantProblem(t, r, tc.want)
			if tc.param != "" {
				if len(p.InvalidParams) == 0 || p.InvalidParams[0].Name != tc.param {
					t.Errorf("%v: invalid-params %+v, want the first named %q", r, p.InvalidParams, tc.param)
				}
			}
			if tc.detail != "" && !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("%v: detail %q does not mention %q", r, p.Detail, tc.detail)
			}
			if p.Instance != "" && p.Instance != strings.SplitN(tc.path, "?", 2)[0] {
				t.Errorf("%v: instance %q, want the request path", r, p.Instance)
			}
		})
	}

	// Nothing that was refused was kept.
	t.Run("nothing refused was created", func(t *testing.T) {
		hosts := getJSON[list[apiHost]](t, h, "/v1/hosts")
		if len(hosts.Items) != 9 {
			t.Errorf("%d hosts, want the 8 discovered and dup-host", len(hosts.Items))
		}
		vms := getJSON[list[apiVM]](t, h, "/v1/vms")
		if len(vms.Items) != 24 {
			t.Errorf("%d vms, want 24", len(vms.Items))
		}
		vm := getJSON[apiVM](t, h, "/v1/vms/east-vm001")
		if vm.Host != "east-esx01" || vm.Shares <= 0 || len(vm.Vports) != 4 {
			t.Errorf("east-vm001 changed by a refused patch: %+v", vm)
		}
		host := getJSON[apiHost](t, h, "/v1/hosts/dup-host")
		if host.HBAs[0].WWPN != "10:00:00:00:c9:00:01:0a" {
			t.Errorf("dup-host changed by a refused create: %+v", host)
		}
	})
}

func TestMethodNotAllowedSaysWhatIs(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		method, path, allow string
	}{
		{"PUT", "/v1/vms", "GET, HEAD, POST"},
		{"POST", "/v1/vms/east-vm001", "GET, HEAD, PATCH, DELETE"},
		{"DELETE", "/v1/fabrics/east-a", "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := h.do(server.RoleAdmin, tt.method, tt.path, nil)
			wantProblem(t, r, http.StatusMethodNotAllowed)
			got := strings.Split(r.Header.Get("Allow"), ", ")
			want := strings.Split(tt.allow, ", ")
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("Allow %v, want %v", got, want)
			}
		})
	}
	// HEAD answers like GET, without a body.
	r := h.do(server.RoleViewer, http.MethodHead, "/v1/vms/east-vm001", nil)
	if r.Status != http.StatusOK || len(r.Body) != 0 || r.Header.Get("Content-Length") == "" {
		t.Fatalf("HEAD: %v", r)
	}
}

func TestUnknownFilterObjectsAre404(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{"/v1/volumes?array=nope", "/v1/volumes?pool=nope", "/v1/snapshots?volume=nope",
		"/v1/pools?array=nope", "/v1/hosts?site=nope", "/v1/vms?host=nope", "/v1/vms?site=nope"} {
		t.Run(path, func(t *testing.T) {
			wantProblem(t, h.get(server.RoleViewer, path), http.StatusNotFound)
		})
	}
}

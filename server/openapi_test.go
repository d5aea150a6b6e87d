package server_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/sanmob/sanmob/server"
)

type openAPIDoc struct {
	OpenAPI string `json:"openapi"`
	Info    struct {
		Title   string `json:"title"`
		Version string `json:"version"`
	} `json:"info"`
	Paths      map[string]map[string]openAPIOp `json:"paths"`
	Components struct {
		Schemas         map[string]any `json:"schemas"`
		SecuritySchemes map[string]any `json:"securitySchemes"`
	} `json:"components"`
}

type openAPIOp struct {
	OperationID string           `json:"operationId"`
	Summary     string           `json:"summary"`
	Security    []map[string]any `json:"security"`
	Parameters  []struct {
		Name     string `json:"name"`
		In       string `json:"in"`
		Required bool   `json:"required"`
	} `json:"parameters"`
	Responses   map[string]any `json:"responses"`
	RequestBody map[string]any `json:"requestBody"`
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func fetchOpenAPI(t *testing.T, h *harness) (openAPIDoc, map[string]any) {
	t.Helper()
	r := h.get(noRole, "/v1/openapi.json")
	doc := wantJSON[openAPIDoc](t, r, http.StatusOK)
	return doc, wantJSON[map[string]any](t, r, http.StatusOK)
}

// documentedOps lists "METHOD /path" for every operation of the document.
func documentedOps(doc openAPIDoc) []string {
	var out []string
	for p, ops := range doc.Paths {
		for m := range ops {
			out = append(out, strings.ToUpper(m)+" "+p)
		}
	}
	sort.Strings(out)
	return out
}

// registeredOps walks the router for "METHOD /template" of every route.
var muxPattern = regexp.MustCompile(`\{([^}:]+):[^}]*\}`)

func registeredOps(t *testing.T, srv *server.Server) []string {
	t.Helper()
	router, ok := srv.Handler().(*mux.Router)
	if !ok {
		t.Fatalf("Handler() is a %T, want *mux.Router", srv.Handler())
	}
	var out []string
	err := router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := route.GetMethods()
		if err != nil {
			t.Errorf("route %s has no method: %v", tpl, err)
			return nil
		}
		tpl = muxPattern.ReplaceAllString(tpl, "{$1}") // {key:.+} is documented as {key}
		for _, m := range methods {
			out = append(out, m+" "+tpl)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	sort.Strings(out)
	return out
}

func TestOpenAPIDocument(t *testing.T) {
	h := newHarness(t)
	doc, raw := fetchOpenAPI(t, h)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi %q, want 3.0.3", doc.OpenAPI)
	}
	if doc.Info.Title == "" || doc.Info.Version != "test" {
		t.Errorf("info %+v: want a title and the configured version", doc.Info)
	}
	if len(doc.Paths) == 0 {
		t.Fatalf("no paths")
	}

	t.Run("routes and document agree", func(t *testing.T) {
		documented := documentedOps(doc)
		registered := registeredOps(t, h.srv)
		for _, op := range registered {
			if !slices.Contains(documented, op) {
				t.Errorf("route %s is served but not documented", op)
			}
		}
		for _, op := range documented {
			if !slices.Contains(registered, op) {
				t.Errorf("operation %s is documented but not served", op)
			}
		}
		// The read endpoints of API.md that this build serves.
		for _, op := range []string{"GET /v1/sites", "GET /v1/links", "GET /v1/fabrics", "GET /v1/fabrics/{id}",
			"GET /v1/fabrics/{id}/logins", "GET /v1/fabrics/{id}/zones", "GET /v1/hosts", "POST /v1/hosts",
			"GET /v1/hosts/{id}", "GET /v1/vms", "POST /v1/vms", "GET /v1/vms/{id}", "PATCH /v1/vms/{id}",
			"DELETE /v1/vms/{id}", "GET /v1/vms/{id}/topology", "GET /v1/arrays", "GET /v1/arrays/{id}",
			"GET /v1/pools", "GET /v1/pools/{id}", "GET /v1/volumes", "GET /v1/volumes/{id}", "GET /v1/snapshots",
			"GET /v1/openapi.json", "GET /healthz", "GET /readyz", "GET /metrics",
			"GET /v1/lab/fabrics/{id}/zonedb", "GET /v1/lab/fabrics/{id}/logins", "DELETE /v1/lab/fabrics/{id}/zones/{name}",
			"GET /v1/lab/arrays/{id}/mappings", "GET /v1/lab/clock", "POST /v1/lab/faults", "DELETE /v1/lab/faults"} {
			if !slices.Contains(documented, op) {
				t.Errorf("%s (API.md) is not in the document", op)
			}
		}
	})

	t.Run("operations are well formed", func(t *testing.T) {
		opIDs := map[string]string{}
		for p, ops := range doc.Paths {
			for m, op := range ops {
				where := strings.ToUpper(m) + " " + p
				if !slices.Contains(httpMethods, m) {
					t.Errorf("%s: %q is not an HTTP method", where, m)
				}
				if op.OperationID == "" || op.Summary == "" {
					t.Errorf("%s: operationId %q summary %q", where, op.OperationID, op.Summary)
				}
				if other, dup := opIDs[op.OperationID]; dup {
					t.Errorf("operationId %q of %s is also %s's", op.OperationID, where, other)
				}
				opIDs[op.OperationID] = where
				if len(op.Responses) == 0 {
					t.Errorf("%s: no responses", where)
				}
				// every {param} of the path is a required path parameter
				for _, m := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(p, -1) {
					found := false
					for _, prm := range op.Parameters {
						if prm.Name == m[1] && prm.In == "path" && prm.Required {
							found = true
						}
					}
					if !found {
						t.Errorf("%s: path parameter %q is not declared", where, m[1])
					}
				}
				if len(op.Security) > 0 {
					if _, ok := op.Responses["401"]; !ok {
						t.Errorf("%s: secured but documents no 401", where)
					}
				}
			}
		}
	})

	t.Run("every $ref resolves", func(t *testing.T) {
		n := 0
		var walk func(v any)
		walk = func(v any) {
			switch x := v.(type) {
			case map[string]any:
				for k, val := range x {
					if k == "$ref" {
						n++
						ref, _ := val.(string)
						name, ok := strings.CutPrefix(ref, "#/components/schemas/")
						if _, found := doc.Components.Schemas[name]; !ok || !found {
							t.Errorf("$ref %q does not resolve", ref)
						}
					}
					walk(val)
				}
			case []any:
				for _, val := range x {
					walk(val)
				}
			}
		}
		walk(raw)
		if n == 0 {
			t.Errorf("no $ref in the document")
		}
	})

	t.Run("security matches the server", func(t *testing.T) {
		for p, ops := range doc.Paths {
			for m, op := range ops {
				path := samplePath(p, nil)
				r := h.with(t).send(request{role: noRole, method: strings.ToUpper(m), path: path, body: emptyBodyFor(m)})
				switch secured := len(op.Security) > 0; {
				case secured && r.Status != http.StatusUnauthorized:
					t.Errorf("%s is documented as secured but answers %d without a token", strings.ToUpper(m)+" "+p, r.Status)
				case !secured && r.Status == http.StatusUnauthorized:
					t.Errorf("%s is documented as public but wants a token", strings.ToUpper(m)+" "+p)
				}
			}
		}
	})
}

// sampleIDs are objects of the small lab for each collection's {id}.
var sampleIDs = map[string]string{
	"sites": "east", "fabrics": "east-a", "hosts": "east-esx01", "vms": "east-vm001", "arrays": "east-arr1",
	"pools": "east-arr1-pool1", "volumes": "east-vm001-d0", "snapshots": "east-vm001-d0-snap1",
	"migrations": "no-such-migration", "attachments": "east-vm001-d0",
}

// samplePath fills a path template with ids that exist; for DELETE the
// caller names its own victims in override ("hosts=oa-host").
func samplePath(tpl string, override map[string]string) string {
	segs := strings.Split(tpl, "/")
	for i, s := range segs {
		if !strings.HasPrefix(s, "{") {
			continue
		}
		coll := segs[i-1]
		if v, ok := override[coll]; ok {
			segs[i] = v
			continue
		}
		switch {
		case s == "{name}" && coll == "zones":
			segs[i] = "backup_srv01_tape01_drv2"
		case sampleIDs[coll] != "":
			segs[i] = sampleIDs[coll]
		default:
			segs[i] = "east-vm001"
		}
	}
	return strings.Join(segs, "/")
}

func emptyBodyFor(method string) any {
	switch strings.ToLower(method) {
	case "post", "put", "patch":
		return rawBody(`{}`)
	}
	return nil
}

// TestOpenAPIOperationsAnswer calls every documented operation as admin and
// wants an answer from its handler: neither 405 nor a "no route" 404.
func TestOpenAPIOperationsAnswer(t *testing.T) {
	h := newHarness(t)
	doc, _ := fetchOpenAPI(t, h)

	// Victims for the DELETE routes.
	wantJSON[apiHost](t, h.do(server.RoleAdmin, "POST", "/v1/hosts", map[string]any{"id": "oa-host", "site": "west",
		"hbas": []map[string]any{{"wwpn": "10:00:00:00:c9:0a:00:01", "wwnn": "20:00:00:00:c9:0a:00:01", "fabric": "west-b"}}}), http.StatusCreated)
	wantJSON[apiVM](t, h.do(server.RoleAdmin, "POST", "/v1/vms", map[string]any{"id": "oa-vm", "host": "east-esx01"}), http.StatusCreated)
	pools := getJSON[list[apiPool]](t, h, "/v1/pools")
	vols := getJSON[list[apiVolume]](t, h, "/v1/volumes")
	if len(pools.Items) == 0 || len(vols.Items) == 0 {
		t.Fatalf("no pools or volumes")
	}
	existing := map[string]string{"pools": pools.Items[len(pools.Items)-1].ID, "volumes": vols.Items[len(vols.Items)-1].ID}
	deletes := map[string]string{"hosts": "oa-host", "vms": "oa-vm"}
	// A volume, a snapshot and an attachment of sanmob's own to delete.
	for _, name := range []string{"oa-vol", "oa-vol2"} {
		wantJSON[apiVolume](t, h.do(server.RoleAdmin, "POST", "/v1/volumes", map[string]any{"id": name, "name": name, "sizeBytes": 1 << 30, "site": "east"}), http.StatusCreated)
	}
	snap := wantJSON[map[string]any](t, h.do(server.RoleAdmin, "POST", "/v1/volumes/oa-vol2/snapshots", map[string]any{"name": "oa-snap"}), http.StatusCreated)
	wantJSON[map[string]any](t, h.do(server.RoleAdmin, "POST", "/v1/attachments", map[string]any{"volume": "oa-vol2", "node": "east-esx01"}), http.StatusCreated)
	existing["snapshots"] = snap["id"].(string)
	mig := wantJSON[map[string]any](t, h.do(server.RoleAdmin, "POST", "/v1/migrations", map[string]any{"vm": "east-vm002", "destinationHost": otherEastHost(t, h, "east-vm002")}), http.StatusCreated)
	existing["migrations"] = mig["id"].(string)
	// oa-host runs no VM: its evacuation ends at once and moves nothing.
	evac := wantJSON[map[string]any](t, h.do(server.RoleAdmin, "POST", "/v1/evacuations", map[string]any{"host": "oa-host", "destinationHosts": []string{"west-esx01"}}), http.StatusCreated)
	existing["evacuations"] = evac["id"].(string)
	deletes["volumes"], deletes["snapshots"] = "oa-vol", snap["id"].(string)
	deletes["attachments"], deletes["oa-vol2"] = "oa-vol2", "east-esx01" // {node} follows the volume
	// A zoning claim to read and release: {key} follows the owner.
	inits, tgts := claimPortsOf(t, h, "east-esx01")
	wantJSON[map[string]any](t, h.do(server.RoleAdmin, "PUT", "/v1/zoning/claims/oa.owner/oa-claim", map[string]any{"initiators": inits, "targets": tgts}), http.StatusCreated)
	existing["claims"], existing["oa.owner"] = "oa.owner", "oa-claim"
	deletes["claims"], deletes["oa.owner"] = "oa.owner", "oa-claim"
	// A port plugged into a lab switch, to pull.
	wantJSON[apiLogin](t, h.do(server.RoleAdmin, "POST", "/v1/lab/fabrics/east-a/logins", map[string]any{"wwpn": "50:0a:09:81:00:00:0a:01", "wwnn": "50:0a:09:80:00:00:0a:00", "target": true}), http.StatusCreated)
	deletes["logins"] = "50:0a:09:81:00:00:0a:01"

	ops := documentedOps(doc)
	// DELETEs last, so that they do not remove what another call reads
	sort.SliceStable(ops, func(i, j int) bool {
		return !strings.HasPrefix(ops[i], "DELETE ") && strings.HasPrefix(ops[j], "DELETE ")
	})
	for _, op := range ops {
		t.Run(op, func(t *testing.T) {
			method, tpl, _ := strings.Cut(op, " ")
			override := existing
			if method == http.MethodDelete {
				override = deletes
			}
			path := samplePath(tpl, override)
			sendMethod := method
			if path == "/v1/alerts/stream" {
				sendMethod = http.MethodHead // the stream never ends; HEAD gets its status and headers
			}
			r := h.with(t).send(request{role: server.RoleAdmin, method: sendMethod, path: path, body: emptyBodyFor(method)})
			switch r.Status {
			case http.StatusMethodNotAllowed:
				t.Errorf("%v: the documented method is not allowed", r)
			case http.StatusNotFound:
				p := wantProblem(t, r, http.StatusNotFound)
				if strings.HasPrefix(p.Detail, "no route") {
					t.Errorf("%v: the documented path has no route", r)
				}
			case http.StatusInternalServerError:
				t.Errorf("%v: internal error", r)
			}
			if method == http.MethodDelete && r.Status != http.StatusNoContent {
				t.Errorf("%v: want 204 for an object that exists", r)
			}
			if method == http.MethodGet && r.Status != http.StatusOK {
				t.Errorf("%v: want 200 for an object that exists", r)
			}
		})
	}
}

// TestOpenAPIWithoutLab checks that the lab routes exist only in lab mode.
func TestOpenAPIWithoutLab(t *testing.T) {
	h := newHarness(t, withoutLab())
	doc, _ := fetchOpenAPI(t, h)
	for p := range doc.Paths {
		if strings.HasPrefix(p, "/v1/lab") {
			t.Errorf("%s is documented without a lab", p)
		}
	}
	for _, op := range registeredOps(t, h.srv) {
		if strings.Contains(op, "/v1/lab") {
			t.Errorf("%s is routed without a lab", op)
		}
	}
	if !slices.Equal(documentedOps(doc), registeredOps(t, h.srv)) {
		t.Errorf("without a lab the document lists\n %v\nthe router\n %v", documentedOps(doc), registeredOps(t, h.srv))
	}
	var raw map[string]any
	if err := json.Unmarshal(h.get(noRole, "/v1/openapi.json").Body, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["paths"].(map[string]any)["/v1/vms"]; !ok {
		t.Errorf("the document without a lab lost /v1/vms")
	}
}

package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/server"
)

// listOps are the documented list operations: GETs that take ?limit.
func listOps(t *testing.T, h *harness) []string {
	t.Helper()
	doc, _ := fetchOpenAPI(t, h)
	var out []string
	for p, ops := range doc.Paths {
		op, ok := ops["get"]
		if !ok {
			continue
		}
		if slices.ContainsFunc(op.Parameters, func(q struct {
			Name     string `json:"name"`
			In       string `json:"in"`
			Required bool   `json:"required"`
		}) bool {
			return q.Name == "limit" && q.In == "query"
		}) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

type rawList struct {
	Items    []json.RawMessage `json:"items"`
	Continue string            `json:"continue"`
}

func withQuery(path string, kv ...string) string {
	q := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return path + "?" + q.Encode()
}

func wantParam(t *testing.T, r *response, name string) {
	t.Helper()
	p := wantProblem(t, r, http.StatusBadRequest)
	if !slices.ContainsFunc(p.InvalidParams, func(ip struct {
		Name   string `json:"name"`
		Reason string `json:"reason"`
	}) bool {
		return ip.Name == name
	}) {
		t.Errorf("%v: want invalid-params naming %s", r, name)
	}
}

// TestEveryListPages: every list takes ?limit (1-10000) and ?continue;
// paging one item at a time yields the whole list; a continue token the
// server did not issue for that list — garbage, altered, another list's —
// and a query parameter the list does not take are 400s naming them.
func TestEveryListPages(t *testing.T) {
	h := newHarness(t)
	lists := listOps(t, h)
	for _, want := range []string{"/v1/sites", "/v1/links", "/v1/fabrics", "/v1/fabrics/{id}/logins", "/v1/fabrics/{id}/zones",
		"/v1/arrays", "/v1/pools", "/v1/pools/{id}/history", "/v1/alerts", "/v1/attachments", "/v1/migrations", "/v1/evacuations",
		"/v1/replication/groups", "/v1/replication/pairs", "/v1/hosts", "/v1/vms", "/v1/volumes", "/v1/snapshots", "/v1/reports/dark-storage"} {
		if !slices.Contains(lists, want) {
			t.Errorf("GET %s does not document ?limit", want)
		}
	}
	// A token of another list, to be refused by every other one.
	sites := wantJSON[rawList](t, h.get(server.RoleAdmin, "/v1/sites?limit=1"), http.StatusOK)
	if sites.Continue == "" {
		t.Fatalf("the lab has one site: no token to try")
	}
	for _, tpl := range lists {
		t.Run(tpl, func(t *testing.T) {
			path := samplePath(tpl, nil)
			all := wantJSON[rawList](t, h.with(t).get(server.RoleAdmin, path), http.StatusOK)
			var paged []json.RawMessage
			tok := ""
			for i := 0; ; i++ {
				kv := []string{"limit", "1"}
				if tok != "" {
					kv = append(kv, "continue", tok)
				}
				pg := wantJSON[rawList](t, h.with(t).get(server.RoleAdmin, withQuery(path, kv...)), http.StatusOK)
				if len(pg.Items) > 1 {
					t.Fatalf("limit=1 gave %d items", len(pg.Items))
				}
				paged = append(paged, pg.Items...)
				if pg.Continue == "" {
					break
				}
				if i > len(all.Items)+1 {
					t.Fatalf("paging does not end: %d pages for %d items", i, len(all.Items))
				}
				tok = pg.Continue
			}
			if len(paged) != len(all.Items) {
				t.Fatalf("pages of one gave %d items, the list %d", len(paged), len(all.Items))
			}
			for i := range paged {
				if string(paged[i]) != string(all.Items[i]) {
					t.Errorf("item %d paged %s, listed %s", i, paged[i], all.Items[i])
				}
			}
			for _, bad := range []string{"garbage", "c1.garbage", strings.Repeat("A", 40)} {
				wantParam(t, h.with(t).get(server.RoleAdmin, withQuery(path, "continue", bad)), "continue")
			}
			if tpl != "/v1/sites" {
				wantParam(t, h.with(t).get(server.RoleAdmin, withQuery(path, "continue", sites.Continue)), "continue")
			}
			// one character of a good token changed
			b := []byte(sites.Continue)
			b[len(b)-1] ^= 1
			wantParam(t, h.with(t).get(server.RoleAdmin, withQuery("/v1/sites", "continue", string(b))), "continue")
			for _, l := range []string{"0", "10001", "x", "-1"} {
				wantParam(t, h.with(t).get(server.RoleAdmin, withQuery(path, "limit", l)), "limit")
			}
			wantParam(t, h.with(t).get(server.RoleAdmin, withQuery(path, "limt", "1")), "limt")
		})
	}
}

// TestQueryStringRead whole: a query Go's parser would shorten (a ';', a
// bad escape) or a parameter given twice is a 400, not a filter, limit or
// verify silently dropped; unknown parameters are refused on every route.
func TestQueryStringReadWhole(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{
		"/v1/volumes?pool=nope;x",
		"/v1/volumes?limit=abc;x",
		"/v1/volumes?continue=%zz",
		"/v1/vms/east-vm001/topology?verify=true;x",
		"/v1/volumes?limit=1&limit=2",
		"/v1/alerts/stream?bogus=1",
		"/v1/vms/east-vm001/topology?foo=1",
	} {
		wantProblem(t, h.get(server.RoleViewer, path), http.StatusBadRequest)
	}
	r := h.do(server.RoleAdmin, http.MethodPost, "/v1/fabrics/east-a/reconcile?apply=true;x", nil)
	wantProblem(t, r, http.StatusBadRequest)
}

// TestBodyOnABodilessRouteRefused: a route that reads no body refuses one
// instead of ignoring it; an empty body is fine.
func TestBodyOnABodilessRouteRefused(t *testing.T) {
	h := newHarness(t)
	r := h.send(request{role: server.RoleAdmin, method: http.MethodPost, path: "/v1/fabrics/east-a/reconcile", body: rawBody(`{"apply":true}`), contentType: "application/json"})
	p := wantProblem(t, r, http.StatusBadRequest)
	if !strings.Contains(p.Detail, "takes no request body") {
		t.Fatalf("detail %q", p.Detail)
	}
	if r := h.do(server.RoleAdmin, http.MethodPost, "/v1/fabrics/east-a/reconcile", nil); r.Status != http.StatusOK {
		t.Fatalf("without a body: %v", r)
	}
}

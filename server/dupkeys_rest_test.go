package server_test

import (
	"net/http"
	"testing"

	"github.com/sanmob/sanmob/server"
)

// TestDuplicateKeysRefused: a body with a key twice, at any depth, is a 400
// naming it, on every route that takes a body; nothing is created.
func TestDuplicateKeysRefused(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		path, body, field string
	}{
		{"/v1/volumes", `{"name":"dup","sizeBytes":1073741824,"sizeBytes":1125899906842624}`, "sizeBytes"},
		{"/v1/hosts", `{"id":"dup-host","site":"west","hbas":[{"wwpn":"10:00:00:00:c9:0b:00:01","wwnn":"20:00:00:00:c9:0b:00:01","fabric":"west-a","fabric":"west-b"}]}`, "hbas[0].fabric"},
		{"/v1/migrations", `{"vm":"east-vm001","VM":"east-vm002","destinationHost":"east-esx02"}`, "VM"},
		{"/v1/telemetry/io", `[{"host":"east-esx01","host":"east-esx02"}]`, "[0].host"},
	} {
		r := h.send(request{role: server.RoleAdmin, method: http.MethodPost, path: c.path, body: rawBody(c.body)})
		p := wantProblem(t, r, http.StatusBadRequest)
		if len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != c.field {
			t.Errorf("%v: want invalid-params naming %s", r, c.field)
		}
	}
	if r := h.get(server.RoleAdmin, "/v1/hosts/dup-host"); r.Status != http.StatusNotFound {
		t.Errorf("%v: a refused body created its host", r)
	}
}

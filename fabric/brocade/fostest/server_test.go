package fostest

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/fabric/wwn"
)

// client is a bare REST client, so that the emulator is tested apart from
// the driver it serves.
type client struct {
	t     *testing.T
	s     *Server
	hc    *http.Client
	token string
}

func newServer(t *testing.T, opts Options) *Server {
	t.Helper()
	s := New(opts)
	t.Cleanup(s.Close)
	return s
}

func login(t *testing.T, s *Server, user, pass string) *client {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CertPool()}}}
	t.Cleanup(hc.CloseIdleConnections)
	c := &client{t: t, s: s, hc: hc}
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/rest/login", nil)
	req.SetBasicAuth(user, pass)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login as %s: HTTP %d", user, resp.StatusCode)
	}
	c.token = resp.Header.Get("Authorization")
	return c
}

// call sends body to /rest/running/resource and returns the status and the
// reply, error envelopes decoded into tag and message.
func (c *client) call(method, resource, body string) (status int, reply map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, c.s.URL()+"/rest/running/"+resource, rd)
	req.Header.Set("Authorization", c.token)
	req.Header.Set("Accept", mediaType)
	req.Header.Set("Content-Type", mediaType)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &reply); err != nil {
			c.t.Fatalf("%s %s: reply is not JSON: %s", method, resource, b)
		}
	}
	return resp.StatusCode, reply
}

// tag returns the error-tag of an error envelope.
func tag(reply map[string]any) string {
	errs, _ := reply["errors"].(map[string]any)
	list, _ := errs["error"].([]any)
	if len(list) == 0 {
		return ""
	}
	e, _ := list[0].(map[string]any)
	s, _ := e["error-tag"].(string)
	return s
}

const (
	w1 = "10:00:00:90:fa:00:00:01"
	w2 = "50:00:09:72:00:00:00:02"
	w3 = "10:00:00:90:fa:00:00:03"
)

func zoneBody(name string, members ...string) string {
	b, _ := json.Marshal(map[string]any{"defined-configuration": map[string]any{"zone": []any{
		map[string]any{"zone-name": name, "zone-type": 0, "member-entry": map[string]any{"entry-name": members}}}}})
	return string(b)
}

func cfgBody(name string, zones ...string) string {
	b, _ := json.Marshal(map[string]any{"defined-configuration": map[string]any{"cfg": []any{
		map[string]any{"cfg-name": name, "member-zone": map[string]any{"zone-name": zones}}}}})
	return string(b)
}

func enableBody(cfg, sum string) string {
	return `{"effective-configuration": {"cfg-name": "` + cfg + `", "checksum": "` + sum + `"}}`
}

func deleteZone(name string) string {
	return `{"defined-configuration": {"zone": [{"zone-name": "` + name + `"}]}}`
}

const abortBody = `{"effective-configuration": {"cfg-action": 4}}`

func TestLoginAndSessions(t *testing.T) {
	s := newServer(t, Options{Users: map[string]string{"alice": "a-pass"}})
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/rest/login", nil)
	req.SetBasicAuth("alice", "wrong")
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad password: HTTP %d, want 401", resp.StatusCode)
	}
	c := login(t, s, "alice", "a-pass")
	if st, _ := c.call(http.MethodGet, "brocade-zone/effective-configuration", ""); st != http.StatusOK {
		t.Fatalf("GET with a session: HTTP %d", st)
	}
	s.ExpireSessions()
	if st, r := c.call(http.MethodGet, "brocade-zone/effective-configuration", ""); st != http.StatusUnauthorized || tag(r) != "access-denied" {
		t.Fatalf("GET after expiry: HTTP %d %s, want 401 access-denied", st, tag(r))
	}
}

func TestTransactionBelongsToItsSession(t *testing.T) {
	s := newServer(t, Options{Users: map[string]string{"a": "pa", "b": "pb"}})
	a, b := login(t, s, "a", "pa"), login(t, s, "b", "pb")
	sum := s.Checksum()
	if st, r := a.call(http.MethodPost, "brocade-zone/defined-configuration", zoneBody("z1", w1, w2)); st != http.StatusCreated {
		t.Fatalf("create: HTTP %d %v", st, r)
	}
	if user, open := s.Transaction(); !open || user != "a" {
		t.Fatalf("Transaction() = %q, %v; want a's open", user, open)
	}
	// Each session sees its own pending edits only.
	_, ra := a.call(http.MethodGet, "brocade-zone/defined-configuration", "")
	_, rb := b.call(http.MethodGet, "brocade-zone/defined-configuration", "")
	if !strings.Contains(mustJSON(ra), "z1") || strings.Contains(mustJSON(rb), "z1") {
		t.Fatalf("pending edits: a sees %v, b sees %v", ra, rb)
	}
	for _, tc := range []struct{ method, resource, body string }{
		{http.MethodPost, "brocade-zone/defined-configuration", zoneBody("z2", w1, w3)},
		{http.MethodPatch, "brocade-zone/effective-configuration", enableBody("c1", sum)},
	} {
		if st, r := b.call(tc.method, tc.resource, tc.body); st != http.StatusConflict || tag(r) != "lock-denied" {
			t.Fatalf("b %s while a's transaction is open: HTTP %d %s, want 409 lock-denied", tc.method, st, tag(r))
		}
	}
	// b's abort cannot end a's transaction; a's does.
	b.call(http.MethodPatch, "brocade-zone/effective-configuration", abortBody)
	if _, open := s.Transaction(); !open {
		t.Fatal("b's abort ended a's transaction")
	}
	a.call(http.MethodPatch, "brocade-zone/effective-configuration", abortBody)
	if _, open := s.Transaction(); open {
		t.Fatal("a's abort left the transaction open")
	}
	if got := s.Committed(); len(got.Zones) != 0 || s.Checksum() != sum {
		t.Fatalf("after abort: zones %v, checksum changed %v", got.Zones, s.Checksum() != sum)
	}
	if st, _ := b.call(http.MethodPost, "brocade-zone/defined-configuration", zoneBody("z2", w1, w3)); st != http.StatusCreated {
		t.Fatalf("b after a's abort: HTTP %d", st)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestEnable(t *testing.T) {
	s := newServer(t, Options{})
	c := login(t, s, "admin", "password")
	sum := s.Checksum()
	c.call(http.MethodPost, "brocade-zone/defined-configuration", zoneBody("z1", w1, w2))
	c.call(http.MethodPost, "brocade-zone/defined-configuration", cfgBody("c1", "z1"))
	st, r := c.call(http.MethodPatch, "brocade-zone/effective-configuration", enableBody("c1", strings.Repeat("0", 32)))
	if st != http.StatusBadRequest || tag(r) != "invalid-value" || !strings.Contains(mustJSON(r), "/checksum") {
		t.Fatalf("stale checksum: HTTP %d %v", st, r)
	}
	if st, r := c.call(http.MethodPatch, "brocade-zone/effective-configuration", enableBody("c1", sum)); st != http.StatusNoContent {
		t.Fatalf("enable: HTTP %d %v", st, r)
	}
	if s.Checksum() == sum {
		t.Fatal("the checksum did not change with the commit")
	}
	if _, open := s.Transaction(); open {
		t.Fatal("the enable left the transaction open")
	}
	_, r = c.call(http.MethodGet, "brocade-zone/effective-configuration", "")
	eff := r["Response"].(map[string]any)["effective-configuration"].(map[string]any)
	if eff["cfg-name"] != "c1" || eff["checksum"] != s.Checksum() || !strings.Contains(mustJSON(eff["enabled-zone"]), w2) {
		t.Fatalf("effective configuration after enable: %v", eff)
	}
	_, r = c.call(http.MethodGet, "brocade-zone/effective-configuration/checksum", "")
	if got := mustJSON(r); got != `{"Response":{"effective-configuration":{"checksum":"`+s.Checksum()+`"}}}` {
		t.Fatalf("checksum leaf: %s", got)
	}
}

// TestRefusals: what FOS refuses, the emulator refuses, in an envelope, and
// a refused request changes nothing.
func TestRefusals(t *testing.T) {
	peer := func(principals ...string) string {
		b, _ := json.Marshal(map[string]any{"defined-configuration": map[string]any{"zone": []any{map[string]any{
			"zone-name": "pz", "zone-type": 1, "member-entry": map[string]any{"entry-name": []string{w1}, "principal-entry-name": principals}}}}})
		return string(b)
	}
	tests := []struct {
		name, method, body string
		status             int
		tag                string
	}{
		{"zone name starting with a digit", "POST", zoneBody("1zone", w1), 400, "invalid-value"},
		{"zone name with a dot", "POST", zoneBody("a.b", w1), 400, "invalid-value"},
		{"zone name of 65 characters", "POST", zoneBody("z"+strings.Repeat("x", 64), w1), 400, "invalid-value"},
		{"empty zone", "POST", zoneBody("z9"), 400, "invalid-value"},
		{"member neither WWN, D,I nor alias", "POST", zoneBody("z9", "no_such_alias"), 400, "invalid-value"},
		{"WWN without colons", "POST", zoneBody("z9", "1000009000000001"), 400, "invalid-value"},
		{"member listed twice", "POST", zoneBody("z9", w1, w1), 400, "invalid-value"},
		{"existing zone", "POST", zoneBody("z1", w3), 409, "data-exists"},
		{"zone named like a cfg", "POST", zoneBody("c1", w3), 409, "data-exists"},
		{"cfg with an unknown zone", "POST", cfgBody("c2", "nozone"), 400, "invalid-value"},
		{"zone already in the cfg", "POST", cfgBody("c1", "z1"), 409, "data-exists"},
		{"peer zone without principals", "POST", peer(), 400, "invalid-value"},
		{"standard zone with principals", "POST", strings.Replace(peer(w2), `"zone-type":1`, `"zone-type":0`, 1), 400, "invalid-value"},
		{"target-created peer zone", "POST", strings.Replace(peer(w2), `"zone-type":1`, `"zone-type":2`, 1), 400, "invalid-value"},
		{"zone-type and zone-type-string disagree", "POST", strings.Replace(peer(w2), `"zone-type":1`, `"zone-type":1,"zone-type-string":"zone"`, 1), 400, "invalid-value"},
		{"unknown leaf", "POST", `{"defined-configuration": {"zone": [{"zone-name": "z9", "members": ["` + w1 + `"]}]}}`, 400, "malformed-message"},
		{"not JSON", "POST", `<zone/>`, 400, "malformed-message"},
		{"deleting a zone in a cfg", "DELETE", deleteZone("z1"), 400, "invalid-value"},
		{"deleting an absent zone", "DELETE", deleteZone("nozone"), 404, "data-missing"},
		{"removing members from a zone", "DELETE", zoneBody("z1", w1), 400, "operation-not-supported"},
		{"removing a zone not in the cfg", "DELETE", cfgBody("c1", "z2"), 404, "data-missing"},
	}
	s := newServer(t, Options{})
	if err := s.AdminEdit(func(db *DB) {
		db.Zones["z1"] = Zone{Members: []string{w1, w2}}
		db.Zones["z2"] = Zone{Members: []string{w3, w2}}
		db.Cfgs["c1"] = []string{"z1"}
		db.Effective = "c1"
	}); err != nil {
		t.Fatal(err)
	}
	c := login(t, s, "admin", "password")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, r := c.call(tc.method, "brocade-zone/defined-configuration", tc.body)
			if st != tc.status || tag(r) != tc.tag {
				t.Fatalf("HTTP %d %s, want %d %s: %v", st, tag(r), tc.status, tc.tag, r)
			}
			if _, open := s.Transaction(); open {
				t.Fatal("a refused first edit opened a transaction")
			}
		})
	}
}

func TestDBMax(t *testing.T) {
	s := newServer(t, Options{DBMax: 200})
	c := login(t, s, "admin", "password")
	sum := s.Checksum()
	c.call(http.MethodPost, "brocade-zone/defined-configuration", zoneBody("z1", w1, w2, w3))
	c.call(http.MethodPost, "brocade-zone/defined-configuration", cfgBody("a_configuration_with_a_long_name", "z1"))
	st, r := c.call(http.MethodPatch, "brocade-zone/effective-configuration", enableBody("a_configuration_with_a_long_name", sum))
	if st != http.StatusConflict || tag(r) != "resource-denied" {
		t.Fatalf("enable over db-max: HTTP %d %v", st, r)
	}
}

func TestKnobs(t *testing.T) {
	s := newServer(t, Options{})
	c := login(t, s, "admin", "password")
	s.Busy(1)
	if st, _ := c.call(http.MethodGet, "brocade-zone/effective-configuration", ""); st != http.StatusServiceUnavailable {
		t.Fatalf("Busy(1): HTTP %d, want 503", st)
	}
	if st, _ := c.call(http.MethodGet, "brocade-zone/effective-configuration", ""); st != http.StatusOK {
		t.Fatalf("after the busy reply: HTTP %d", st)
	}
	s.Lock("bob")
	if st, r := c.call(http.MethodPost, "brocade-zone/defined-configuration", zoneBody("z1", w1, w2)); st != http.StatusConflict || !strings.Contains(mustJSON(r), "bob") {
		t.Fatalf("Lock(bob): HTTP %d %v, want 409 naming bob", st, r)
	}
	s.Lock("")
	s.OnRequest(func(method, resource string) *Error {
		if method == http.MethodPost {
			return &Error{Status: http.StatusInternalServerError, Tag: "operation-failed", Message: "injected"}
		}
		return nil
	})
	if st, r := c.call(http.MethodPost, "brocade-zone/defined-configuration", zoneBody("z1", w1, w2)); st != 500 || tag(r) != "operation-failed" {
		t.Fatalf("OnRequest: HTTP %d %v", st, r)
	}
	if got := s.Requests(); !slices.Contains(got, "POST /rest/running/brocade-zone/defined-configuration") {
		t.Fatalf("Requests() = %v", got)
	}
}

func TestVFID(t *testing.T) {
	tests := []struct {
		vfid  int
		query string
		ok    bool
	}{
		{0, "", true},
		{0, "?vf-id=128", false},
		{128, "", true},
		{128, "?vf-id=128", true},
		{20, "?vf-id=20", true},
		{20, "", false},
		{20, "?vf-id=21", false},
	}
	for _, tc := range tests {
		s := newServer(t, Options{VFID: tc.vfid})
		c := login(t, s, "admin", "password")
		st, _ := c.call(http.MethodGet, "brocade-zone/effective-configuration"+tc.query, "")
		if (st == http.StatusOK) != tc.ok {
			t.Errorf("switch FID %d, request %q: HTTP %d, want ok=%v", tc.vfid, tc.query, st, tc.ok)
		}
	}
}

func TestAdminEdit(t *testing.T) {
	s := newServer(t, Options{})
	if err := s.AdminEdit(func(db *DB) { db.Zones["bad.name"] = Zone{Members: []string{w1}} }); err == nil {
		t.Fatal("AdminEdit accepted a zone name FOS refuses")
	}
	if err := s.AdminEdit(func(db *DB) {
		db.Aliases["host1"] = []string{w1}
		db.Zones["tdz"] = Zone{Type: 2, Members: []string{"host1"}, Principals: []string{w2}}
		db.Cfgs["c"] = []string{"tdz"}
		db.Effective = "c"
	}); err != nil {
		t.Fatal(err)
	}
	c := login(t, s, "admin", "password")
	_, r := c.call(http.MethodGet, "brocade-zone/effective-configuration", "")
	if got := mustJSON(r); !strings.Contains(got, w1) || strings.Contains(got, `"host1"`) {
		t.Fatalf("the effective configuration does not show the alias expanded: %s", got)
	}
	c.call(http.MethodPost, "brocade-zone/defined-configuration", zoneBody("z1", w1, w2))
	if err := s.AdminEdit(func(db *DB) {}); err == nil {
		t.Fatal("AdminEdit committed while a transaction held the fabric lock")
	}
}

func TestNameServer(t *testing.T) {
	s := newServer(t, Options{})
	s.SetDevices([]Device{{WWPN: wwn.MustParse(w1), WWNN: wwn.MustParse("20:00:00:90:fa:00:00:01"), PortID: 0x010400, PortIndex: 4},
		{WWPN: wwn.MustParse(w3), Physical: wwn.MustParse(w1), PortID: 0x010401, PortIndex: 4}})
	c := login(t, s, "admin", "password")
	_, r := c.call(http.MethodGet, "brocade-name-server/fibrechannel-name-server", "")
	got := mustJSON(r)
	for _, want := range []string{`"port-id":"0x010400"`, `"name-server-device-type":"NPIV Initiator"`, `"permanent-port-name":"` + w1 + `"`} {
		if !strings.Contains(got, want) {
			t.Errorf("name server lacks %s: %s", want, got)
		}
	}
}

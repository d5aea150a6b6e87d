package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestLabPlugPort(t *testing.T) {
	var calls atomic.Int32
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Method != http.MethodPost || r.URL.EscapedPath() != "/v1/lab/fabrics/east%20a/logins" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s (%s)", r.Method, r.URL.EscapedPath(), r.Header.Get("Content-Type"))
		}
		b, _ := io.ReadAll(r.Body)
		if want := `{"wwpn":"50:0a:09:81:00:00:00:01","wwnn":"50:0a:09:80:00:00:00:00","target":true}`; string(b) != want {
			t.Errorf("body %s, want %s", b, want)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"wwpn":"50:0a:09:81:00:00:00:01","wwnn":"50:0a:09:80:00:00:00:00","kind":"target","npiv":false,"switchPort":"1,22","portId":"0x011600","loggedInAt":"2026-03-01T12:00:05Z"}`)
	})
	l, err := c.LabPlugPort(context.Background(), "east a", LabPort{WWPN: "50:0a:09:81:00:00:00:01", WWNN: "50:0a:09:80:00:00:00:00", Target: true})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 5, 0, time.UTC)
	want := Login{WWPN: "50:0a:09:81:00:00:00:01", WWNN: "50:0a:09:80:00:00:00:00", Kind: "target", SwitchPort: "1,22", PortID: "0x011600", LoggedInAt: &at}
	if !reflect.DeepEqual(*l, want) || calls.Load() != 1 {
		t.Fatalf("login %+v after %d calls, want %+v", *l, calls.Load(), want)
	}
}

// TestLabPortsRefused: the daemon's refusals come back classified, and a
// plug or a pull that may have been applied (503) is not tried again.
func TestLabPortsRefused(t *testing.T) {
	tests := []struct {
		status int
		is     func(error) bool
		tries  int32
	}{
		{http.StatusConflict, IsConflict, 1},
		{http.StatusNotFound, IsNotFound, 1},
		{http.StatusBadRequest, func(err error) bool { return StatusOf(err) == http.StatusBadRequest }, 1},
		{http.StatusServiceUnavailable, IsTemporary, 1},
		{http.StatusTooManyRequests, IsTemporary, 3},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			var calls atomic.Int32
			c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				problem(w, tt.status, `{"status":0,"detail":"lab: refused"}`)
			}, WithMaxAttempts(3))
			ctx := context.Background()
			_, err := c.LabPlugPort(ctx, "east-a", LabPort{WWPN: "50:0a:09:81:00:00:00:01", WWNN: "50:0a:09:80:00:00:00:00"})
			if !tt.is(err) || StatusOf(err) != tt.status || calls.Load() != tt.tries {
				t.Fatalf("LabPlugPort: %v after %d calls, want %d after %d", err, calls.Load(), tt.status, tt.tries)
			}
			calls.Store(0)
			err = c.LabUnplugPort(ctx, "east-a", "50:0a:09:81:00:00:00:01")
			if !tt.is(err) || StatusOf(err) != tt.status || calls.Load() != tt.tries {
				t.Fatalf("LabUnplugPort: %v after %d calls, want %d after %d", err, calls.Load(), tt.status, tt.tries)
			}
		})
	}
}

func TestLabUnplugPort(t *testing.T) {
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodDelete || r.URL.EscapedPath() != "/v1/lab/fabrics/east-a/logins/50:0a:09:81:00:00:00:01" || r.ContentLength > 0 {
			t.Errorf("%s %s with %d bytes", r.Method, r.URL.EscapedPath(), r.ContentLength)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	if err := c.LabUnplugPort(context.Background(), "east-a", "50:0a:09:81:00:00:00:01"); err != nil {
		t.Fatal(err)
	}
}

func TestLabLogins(t *testing.T) {
	var calls atomic.Int32
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		q := r.URL.Query()
		if r.Method != http.MethodGet || r.URL.Path != "/v1/lab/fabrics/west-b/logins" || q.Get("limit") != "1" {
			t.Errorf("%s %s", r.Method, r.URL)
		}
		w.Header().Set("Content-Type", "application/json")
		switch q.Get("continue") {
		case "":
			io.WriteString(w, `{"items":[{"wwpn":"50:00:2a:c0:00:01:00:00","kind":"target","switchPort":"1,0"}],"continue":"c1"}`)
		case "c1":
			io.WriteString(w, `{"items":[{"wwpn":"c0:50:76:00:00:00:00:01","kind":"initiator","npiv":true,"physicalWWPN":"10:00:00:00:c9:00:00:01","switchPort":"1,9"}]}`)
		default:
			t.Errorf("continue %q", q.Get("continue"))
		}
	}, WithPageSize(1))
	ls, err := c.LabLogins(context.Background(), "west-b")
	if err != nil {
		t.Fatal(err)
	}
	want := []Login{{WWPN: "50:00:2a:c0:00:01:00:00", Kind: "target", SwitchPort: "1,0"},
		{WWPN: "c0:50:76:00:00:00:00:01", Kind: "initiator", NPIV: true, PhysicalWWPN: "10:00:00:00:c9:00:00:01", SwitchPort: "1,9"}}
	if !reflect.DeepEqual(ls, want) || calls.Load() != 2 {
		t.Fatalf("logins %+v after %d calls, want %+v", ls, calls.Load(), want)
	}
}

func TestLabZoneDB(t *testing.T) {
	const body = `{"checksum":"0123456789abcdef0123456789abcdef","effective":"cfg_east_a",` +
		`"zones":[{"name":"sm_a","members":["10:00:00:00:c9:00:00:01","50:00:2a:c0:00:01:00:00"]},` +
		`{"name":"peer_b","members":["50:00:2a:c0:00:01:00:00"],"principals":["10:00:00:00:c9:00:00:02"]}],` +
		`"effectiveZones":["peer_b","sm_a"],"sizeBytes":180,"maxBytes":1048576}`
	c := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/v1/lab/fabrics/east-a/zonedb" {
			t.Errorf("%s %s", r.Method, r.URL)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	})
	db, err := c.LabZoneDB(context.Background(), "east-a")
	if err != nil {
		t.Fatal(err)
	}
	want := LabZoneDB{Checksum: "0123456789abcdef0123456789abcdef", Effective: "cfg_east_a",
		Zones: []LabZone{{Name: "sm_a", Members: []string{"10:00:00:00:c9:00:00:01", "50:00:2a:c0:00:01:00:00"}},
			{Name: "peer_b", Members: []string{"50:00:2a:c0:00:01:00:00"}, Principals: []string{"10:00:00:00:c9:00:00:02"}}},
		EffectiveZones: []string{"peer_b", "sm_a"}, SizeBytes: 180, MaxBytes: 1 << 20}
	if !reflect.DeepEqual(*db, want) {
		t.Fatalf("zone DB %+v, want %+v", *db, want)
	}
	// Every field the daemon sends has a home.
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	var strict LabZoneDB
	if err := dec.Decode(&strict); err != nil {
		t.Fatalf("a field of the daemon's zone DB is missing from LabZoneDB: %v", err)
	}
}

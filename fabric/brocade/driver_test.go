package brocade

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/brocade/fostest"
	"github.com/sanmob/sanmob/fabric/wwn"
)

const password = "Zx9-unique-s3cret"

func newSwitch(t *testing.T, opts fostest.Options) *fostest.Server {
	t.Helper()
	if opts.Users == nil {
		opts.Users = map[string]string{"sanmob": password}
	}
	s := fostest.New(opts)
	t.Cleanup(s.Close)
	return s
}

func newDriver(t *testing.T, s *fostest.Server, edit func(*Config)) *Driver {
	t.Helper()
	cfg := Config{URL: s.URL(), User: "sanmob", Password: password, CA: s.CA(),
		Timeout: 5 * time.Second, Retries: 3, Backoff: time.Millisecond}
	if edit != nil {
		edit(&cfg)
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(context.Background()) })
	return d
}

var (
	hostA   = wwn.MustParse("10:00:00:90:fa:00:00:0a")
	hostB   = wwn.MustParse("10:00:00:90:fa:00:00:0b")
	vport   = wwn.MustParse("c0:50:76:00:00:00:00:01")
	target1 = wwn.MustParse("50:00:09:72:00:00:01:00")
	target2 = wwn.MustParse("50:00:09:72:00:00:02:00")
)

// seed gives the switch an administrator's zoning: an alias, a zone of it
// and a port member, a sanmob zone in two configurations, one to delete.
func seed(t *testing.T, s *fostest.Server) {
	t.Helper()
	err := s.AdminEdit(func(db *fostest.DB) {
		db.Aliases["array1"] = []string{target1.String()}
		db.Zones["admin_z"] = fostest.Zone{Members: []string{hostB.String(), "array1", "1,7"}}
		db.Zones["sm_old"] = fostest.Zone{Members: []string{hostA.String(), target1.String()}}
		db.Zones["sm_gone"] = fostest.Zone{Members: []string{hostB.String(), target2.String()}}
		db.Cfgs["prod"] = []string{"admin_z", "sm_old", "sm_gone"}
		db.Cfgs["backup"] = []string{"sm_old"}
		db.Effective = "prod"
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReadPaths(t *testing.T) {
	s := newSwitch(t, fostest.Options{SwitchName: "edge1", Firmware: "v9.1.0b", DBMax: 4 << 20})
	seed(t, s)
	s.SetDevices([]fostest.Device{
		{WWPN: hostA, WWNN: wwn.MustParse("20:00:00:90:fa:00:00:0a"), PortID: 0x010400, PortIndex: 4},
		{WWPN: vport, WWNN: wwn.MustParse("c0:50:76:00:00:00:00:02"), Physical: hostA, PortID: 0x010401, PortIndex: 4},
		{WWPN: target1, WWNN: wwn.MustParse("50:00:09:72:00:00:00:00"), PortID: 0x010900, PortIndex: 9, Target: true},
	})
	d := newDriver(t, s, nil)

	info, err := d.Info(t.Context())
	if err != nil || info != (fabric.Info{Name: "edge1", Vendor: "Brocade", Firmware: "v9.1.0b"}) {
		t.Fatalf("Info() = %+v, %v", info, err)
	}
	if !d.PeerZones() {
		t.Error("PeerZones() = false for FOS 9.1")
	}

	logins, err := d.Logins(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []fabric.Login{
		{WWPN: hostA, WWNN: wwn.MustParse("20:00:00:90:fa:00:00:0a"), Kind: fabric.Initiator, SwitchPort: "1,4", PortID: "0x010400"},
		{WWPN: vport, WWNN: wwn.MustParse("c0:50:76:00:00:00:00:02"), Kind: fabric.Initiator, NPIV: true, PhysicalWWPN: hostA, SwitchPort: "1,4", PortID: "0x010401"},
		{WWPN: target1, WWNN: wwn.MustParse("50:00:09:72:00:00:00:00"), Kind: fabric.Target, SwitchPort: "1,9", PortID: "0x010900"},
	}
	if !slices.Equal(logins, want) {
		t.Fatalf("Logins() =\n%+v\nwant\n%+v", logins, want)
	}

	db, err := d.ZoneDB(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if db.Checksum != s.Checksum() || db.EffectiveCfg != "prod" || db.MaxBytes != 4<<20 || db.SizeBytes <= 0 {
		t.Fatalf("ZoneDB() header = %q %q %d/%d; switch checksum %q", db.Checksum, db.EffectiveCfg, db.SizeBytes, db.MaxBytes, s.Checksum())
	}
	if !slices.Equal(db.Effective, []string{"admin_z", "sm_old", "sm_gone"}) {
		t.Errorf("Effective = %v", db.Effective)
	}
	// The alias is expanded; the port member has no WWN and is left out.
	admin := zoneNamed(t, db, "admin_z")
	if !slices.Equal(admin.Members, []wwn.WWN{hostB, target1}) || admin.Peer() {
		t.Errorf("admin_z = %+v", admin)
	}
	sum, err := d.ZoneDBChecksum(t.Context())
	if err != nil || sum != s.Checksum() {
		t.Fatalf("ZoneDBChecksum() = %q, %v; want %q", sum, err, s.Checksum())
	}
}

func zoneNamed(t *testing.T, db fabric.ZoneDB, name string) fabric.Zone {
	t.Helper()
	for _, z := range db.Zones {
		if z.Name == name {
			return z
		}
	}
	t.Fatalf("zone %s not in %v", name, db.Zones)
	return fabric.Zone{}
}

// edits returns the zoning writes among the requests the switch received.
func edits(s *fostest.Server) []string {
	var out []string
	for _, r := range s.Requests() {
		if strings.HasPrefix(r, "POST /rest/running") || strings.HasPrefix(r, "DELETE") || strings.HasPrefix(r, "PATCH") {
			out = append(out, r)
		}
	}
	return out
}

func TestCommit(t *testing.T) {
	s := newSwitch(t, fostest.Options{})
	seed(t, s)
	d := newDriver(t, s, nil)
	db, err := d.ZoneDB(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	txn := fabric.Txn{Checksum: db.Checksum, Cfg: "ignored_there_is_one",
		Put: []fabric.Zone{
			{Name: "sm_new", Members: []wwn.WWN{hostA, target2}},
			{Name: "sm_old", Members: []wwn.WWN{vport, target1}}, // replaces
			{Name: "sm_peer", Members: []wwn.WWN{hostA, hostB}, Principals: []wwn.WWN{target1}},
		},
		Delete: []string{"sm_gone", "sm_absent"},
	}
	sum, err := d.Commit(t.Context(), txn)
	if err != nil {
		t.Fatal(err)
	}
	if sum != s.Checksum() || sum == db.Checksum {
		t.Fatalf("Commit() checksum %q; switch %q, before %q", sum, s.Checksum(), db.Checksum)
	}
	if _, open := s.Transaction(); open {
		t.Fatal("the commit left a transaction open")
	}
	got := s.Committed()
	wantZones := map[string]fostest.Zone{
		"admin_z": {Members: []string{hostB.String(), "array1", "1,7"}},
		"sm_new":  {Members: []string{hostA.String(), target2.String()}},
		"sm_old":  {Members: []string{vport.String(), target1.String()}},
		"sm_peer": {Type: 1, Members: []string{hostA.String(), hostB.String()}, Principals: []string{target1.String()}},
	}
	if len(got.Zones) != len(wantZones) {
		t.Fatalf("zones = %v", got.Zones)
	}
	for n, w := range wantZones {
		g := got.Zones[n]
		if g.Type != w.Type || !slices.Equal(g.Members, w.Members) || !slices.Equal(g.Principals, w.Principals) {
			t.Errorf("zone %s = %+v, want %+v", n, g, w)
		}
	}
	if got.Effective != "prod" || !slices.Equal(got.Cfgs["prod"], []string{"admin_z", "sm_new", "sm_old", "sm_peer"}) ||
		!slices.Equal(got.Cfgs["backup"], []string{"sm_old"}) {
		t.Errorf("cfgs = %v, effective %q", got.Cfgs, got.Effective)
	}
	after, err := d.ZoneDB(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if after.Checksum != sum || !slices.Equal(after.Effective, []string{"admin_z", "sm_new", "sm_old", "sm_peer"}) {
		t.Fatalf("ZoneDB() after commit: %q %v", after.Checksum, after.Effective)
	}
	if p := zoneNamed(t, after, "sm_peer"); !p.Peer() || !slices.Equal(p.Principals, []wwn.WWN{target1}) {
		t.Errorf("sm_peer read back as %+v", p)
	}

	// Nothing left to do: no transaction at all.
	n := len(edits(s))
	if sum2, err := d.Commit(t.Context(), fabric.Txn{Checksum: sum, Delete: []string{"sm_absent"}}); err != nil || sum2 != sum {
		t.Fatalf("empty Commit() = %q, %v", sum2, err)
	}
	if len(edits(s)) != n {
		t.Fatalf("an empty transaction sent %v", edits(s)[n:])
	}
}

func TestCommitCreatesTheFirstConfiguration(t *testing.T) {
	s := newSwitch(t, fostest.Options{})
	d := newDriver(t, s, nil)
	sum, err := d.ZoneDBChecksum(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Commit(t.Context(), fabric.Txn{Checksum: sum, Cfg: "sanmob_cfg",
		Put: []fabric.Zone{{Name: "sm_a", Members: []wwn.WWN{hostA, target1}}}}); err != nil {
		t.Fatal(err)
	}
	if got := s.Committed(); got.Effective != "sanmob_cfg" || !slices.Equal(got.Cfgs["sanmob_cfg"], []string{"sm_a"}) {
		t.Fatalf("committed %+v", got)
	}
}

func TestCommitRefusedLocally(t *testing.T) {
	s := newSwitch(t, fostest.Options{})
	seed(t, s)
	d := newDriver(t, s, nil)
	sum := s.Checksum()
	z := func(name string, ws ...wwn.WWN) fabric.Zone { return fabric.Zone{Name: name, Members: ws} }
	tests := []struct {
		name string
		txn  fabric.Txn
	}{
		{"no checksum", fabric.Txn{Put: []fabric.Zone{z("sm_a", hostA, target1)}}},
		{"bad zone name", fabric.Txn{Checksum: sum, Put: []fabric.Zone{z("sm a", hostA, target1)}}},
		{"empty zone", fabric.Txn{Checksum: sum, Put: []fabric.Zone{z("sm_a")}}},
		{"zero WWN", fabric.Txn{Checksum: sum, Put: []fabric.Zone{z("sm_a", hostA, wwn.WWN{})}}},
		{"duplicate member", fabric.Txn{Checksum: sum, Put: []fabric.Zone{z("sm_a", hostA, hostA)}}},
		{"put twice", fabric.Txn{Checksum: sum, Put: []fabric.Zone{z("sm_a", hostA, target1), z("sm_a", hostB, target1)}}},
		{"put and deleted", fabric.Txn{Checksum: sum, Put: []fabric.Zone{z("sm_a", hostA, target1)}, Delete: []string{"sm_a"}}},
		{"empties the effective cfg", fabric.Txn{Checksum: sum, Delete: []string{"admin_z", "sm_old", "sm_gone"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Commit(t.Context(), tc.txn)
			if !errors.Is(err, fabric.ErrInvalid) {
				t.Fatalf("Commit() = %v, want ErrInvalid", err)
			}
		})
	}
	if e := edits(s); len(e) != 0 {
		t.Fatalf("refused transactions sent %v", e)
	}
}

func TestCommitStaleChecksum(t *testing.T) {
	s := newSwitch(t, fostest.Options{})
	seed(t, s)
	d := newDriver(t, s, nil)
	db, err := d.ZoneDB(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AdminEdit(func(db *fostest.DB) {
		db.Zones["admin_new"] = fostest.Zone{Members: []string{hostB.String(), target2.String()}}
		db.Cfgs["prod"] = append(db.Cfgs["prod"], "admin_new")
	}); err != nil {
		t.Fatal(err)
	}
	want := s.Committed()
	_, err = d.Commit(t.Context(), fabric.Txn{Checksum: db.Checksum, Put: []fabric.Zone{{Name: "sm_a", Members: []wwn.WWN{hostA, target1}}}})
	t.Logf("error: %v", err)
	if !errors.Is(err, fabric.ErrConflict) || fabric.IsTransient(err) {
		t.Fatalf("Commit() = %v, want ErrConflict", err)
	}
	if e := edits(s); len(e) != 0 {
		t.Fatalf("a stale transaction sent %v", e)
	}
	if got := s.Committed(); !slices.Equal(got.Cfgs["prod"], want.Cfgs["prod"]) || len(got.Zones) != len(want.Zones) {
		t.Fatalf("the zone DB changed: %+v", got)
	}
}

// TestCommitStaleAtTheSwitch: another administrator commits between the
// driver's checksum check and its first edit; the switch refuses the enable.
func TestCommitStaleAtTheSwitch(t *testing.T) {
	s := newSwitch(t, fostest.Options{})
	seed(t, s)
	d := newDriver(t, s, nil)
	sum := s.Checksum()
	var once atomic.Bool
	s.OnRequest(func(method, resource string) *fostest.Error {
		if method != http.MethodGet && resource == resDefined && once.CompareAndSwap(false, true) {
			if err := s.AdminEdit(func(db *fostest.DB) { delete(db.Cfgs, "backup") }); err != nil {
				t.Error(err)
			}
		}
		return nil
	})
	_, err := d.Commit(t.Context(), fabric.Txn{Checksum: sum, Put: []fabric.Zone{{Name: "sm_a", Members: []wwn.WWN{hostA, target1}}}})
	t.Logf("error: %v", err)
	if !errors.Is(err, fabric.ErrConflict) {
		t.Fatalf("Commit() = %v, want ErrConflict", err)
	}
	if !strings.Contains(err.Error(), "Checksum mismatch") {
		t.Errorf("the switch's message is lost: %v", err)
	}
	assertUntouched(t, s, s.Checksum())
	if _, ok := s.Committed().Zones["sm_a"]; ok {
		t.Fatal("the refused transaction was applied")
	}
}

// assertUntouched checks that no transaction is open and the committed
// checksum is sum.
func assertUntouched(t *testing.T, s *fostest.Server, sum string) {
	t.Helper()
	if user, open := s.Transaction(); open {
		t.Fatalf("a transaction of %s is still open", user)
	}
	if s.Checksum() != sum {
		t.Fatal("the zone DB changed")
	}
}

func TestBusy(t *testing.T) {
	tests := []struct {
		name      string
		busy      int
		retries   int
		transient bool
	}{
		{"retried until it answers", 3, 3, false},
		{"busy beyond the retries", 4, 3, true},
		{"no retries", 1, -1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSwitch(t, fostest.Options{})
			seed(t, s)
			d := newDriver(t, s, func(c *Config) { c.Retries = tc.retries })
			sum := s.Checksum()
			s.Busy(tc.busy)
			_, err := d.Commit(t.Context(), fabric.Txn{Checksum: sum, Put: []fabric.Zone{{Name: "sm_a", Members: []wwn.WWN{hostA, target1}}}})
			if fabric.IsTransient(err) != tc.transient || (err != nil) != tc.transient {
				t.Fatalf("Commit() = %v; want transient=%v", err, tc.transient)
			}
			if _, applied := s.Committed().Zones["sm_a"]; applied == tc.transient {
				t.Fatalf("applied = %v after %v", applied, err)
			}
		})
	}
}

// TestBusyEnable: the enable answers 503 past the retries; it was never
// processed, the transaction is aborted and nothing applied.
func TestBusyEnable(t *testing.T) {
	s := newSwitch(t, fostest.Options{})
	seed(t, s)
	d := newDriver(t, s, func(c *Config) { c.Retries = 2 })
	sum := s.Checksum()
	var patches atomic.Int32
	s.OnRequest(func(method, resource string) *fostest.Error {
		if method == http.MethodPatch && patches.Add(1) <= 3 {
			return &fostest.Error{Status: http.StatusServiceUnavailable, Tag: "operation-failed", Message: "busy"}
		}
		return nil
	})
	_, err := d.Commit(t.Context(), fabric.Txn{Checksum: sum, Put: []fabric.Zone{{Name: "sm_a", Members: []wwn.WWN{hostA, target1}}}})
	t.Logf("error: %v", err)
	if !fabric.IsTransient(err) {
		t.Fatalf("Commit() = %v, want transient", err)
	}
	if patches.Load() != 4 {
		t.Fatalf("%d PATCHes; want 3 enables and 1 abort", patches.Load())
	}
	assertUntouched(t, s, sum)
}

func TestLockHeldByAnother(t *testing.T) {
	s := newSwitch(t, fostest.Options{})
	seed(t, s)
	d := newDriver(t, s, nil)
	sum := s.Checksum()
	s.Lock("bob")
	_, err := d.Commit(t.Context(), fabric.Txn{Checksum: sum, Put: []fabric.Zone{{Name: "sm_a", Members: []wwn.WWN{hostA, target1}}}})
	t.Logf("error: %v", err)
	if !fabric.IsTransient(err) || !strings.Contains(err.Error(), "bob") {
		t.Fatalf("Commit() = %v, want transient naming the holder", err)
	}
	assertUntouched(t, s, sum)
	s.Lock("")
	if _, err := d.Commit(t.Context(), fabric.Txn{Checksum: sum, Put: []fabric.Zone{{Name: "sm_a", Members: []wwn.WWN{hostA, target1}}}}); err != nil {
		t.Fatalf("Commit() after the lock is released: %v", err)
	}
}

// TestFailureMidTransaction: whatever fails after the first edit, the
// transaction is aborted and the zone DB is as it was.
func TestFailureMidTransaction(t *testing.T) {
	fail := func(method string, status int, tag string) func(string, string) *fostest.Error {
		return func(m, resource string) *fostest.Error {
			if m == method && resource == resDefined {
				return &fostest.Error{Status: status, Tag: tag, Message: "injected " + tag}
			}
			return nil
		}
	}
	// Room for the seeded zone DB and a little more, not for the commit.
	full := seededSize(t) + 100
	tests := []struct {
		name  string
		dbMax int
		hook  func(string, string) *fostest.Error
		want  error // nil: final without a class
	}{
		{"create refused", 0, fail(http.MethodPost, 400, "invalid-value"), fabric.ErrInvalid},
		{"switch error", 0, fail(http.MethodPost, 500, "operation-failed"), nil},
		{"zone DB full", full, nil, fabric.ErrFull},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSwitch(t, fostest.Options{DBMax: tc.dbMax})
			seed(t, s)
			d := newDriver(t, s, nil)
			sum := s.Checksum()
			s.OnRequest(tc.hook)
			_, err := d.Commit(t.Context(), fabric.Txn{Checksum: sum, Put: []fabric.Zone{
				{Name: "sm_old", Members: []wwn.WWN{hostA, target2}},
				{Name: "sm_with_a_long_name_to_fill_the_zone_database", Members: []wwn.WWN{hostA, hostB, target1, target2}}}})
			t.Logf("error: %v", err)
			switch {
			case err == nil:
				t.Fatal("Commit() succeeded")
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("Commit() = %v, want %v", err, tc.want)
			case fabric.IsTransient(err) || errors.Is(err, fabric.ErrConflict):
				t.Fatalf("Commit() = %v, want final", err)
			case !strings.Contains(err.Error(), "injected") && tc.hook != nil:
				t.Fatalf("the switch's message is lost: %v", err)
			}
			assertUntouched(t, s, sum)
			if e := edits(s); !slices.ContainsFunc(e, func(r string) bool { return strings.HasPrefix(r, "DELETE") }) {
				t.Fatalf("no edit was sent before the failure: %v", e)
			}
		})
	}
}

func seededSize(t *testing.T) int {
	s := newSwitch(t, fostest.Options{})
	seed(t, s)
	db, err := newDriver(t, s, nil).ZoneDB(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return db.SizeBytes
}

// TestEnableTimesOut: the switch applies the enable but its answer never
// comes. The commit may have happened: transient, the enable not resent,
// and reading back shows it.
func TestEnableTimesOut(t *testing.T) {
	s := newSwitch(t, fostest.Options{})
	seed(t, s)
	d := newDriver(t, s, func(c *Config) { c.Timeout = 300 * time.Millisecond })
	sum := s.Checksum()
	s.HangNextEnable()
	_, err := d.Commit(t.Context(), fabric.Txn{Checksum: sum, Put: []fabric.Zone{{Name: "sm_a", Members: []wwn.WWN{hostA, target1}}}})
	t.Logf("error: %v", err)
	if !errors.Is(err, fabric.ErrUnavailable) {
		t.Fatalf("Commit() = %v, want ErrUnavailable", err)
	}
	enables := 0
	for _, r := range edits(s) {
		if strings.HasPrefix(r, "PATCH") {
			enables++
		}
	}
	if enables != 2 { // the enable, then the abort that releases the lock if it did not apply
		t.Fatalf("%d PATCHes, want the enable once and one abort: %v", enables, edits(s))
	}
	db, err := d.ZoneDB(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(db.Effective, "sm_a") || db.Checksum == sum {
		t.Fatalf("the applied enable does not read back: %v", db.Effective)
	}
}

// TestAbortRetriedBeforeTheNextOperation: when the abort after a failure
// fails too, the next zone operation aborts first.
func TestAbortRetriedBeforeTheNextOperation(t *testing.T) {
	s := newSwitch(t, fostest.Options{})
	seed(t, s)
	d := newDriver(t, s, func(c *Config) { c.Retries = -1 })
	var patches atomic.Int32
	s.OnRequest(func(method, resource string) *fostest.Error {
		if method == http.MethodPatch && patches.Add(1) <= 2 {
			return &fostest.Error{Status: 500, Tag: "operation-failed", Message: "injected"}
		}
		return nil
	})
	if _, err := d.Commit(t.Context(), fabric.Txn{Checksum: s.Checksum(), Put: []fabric.Zone{{Name: "sm_a", Members: []wwn.WWN{hostA, target1}}}}); err == nil {
		t.Fatal("Commit() succeeded")
	}
	if _, open := s.Transaction(); !open {
		t.Fatal("the failed abort closed the transaction anyway")
	}
	if _, err := d.ZoneDB(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, open := s.Transaction(); open {
		t.Fatal("ZoneDB() read with this session's transaction still open")
	}
}

func TestAbort(t *testing.T) {
	s := newSwitch(t, fostest.Options{})
	d := newDriver(t, s, nil)
	if err := d.Abort(t.Context()); err != nil {
		t.Fatalf("Abort() with nothing open: %v", err)
	}
}

func TestSession(t *testing.T) {
	s := newSwitch(t, fostest.Options{})
	d := newDriver(t, s, nil)
	if _, err := d.ZoneDBChecksum(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.ExpireSessions()
	if _, err := d.ZoneDBChecksum(t.Context()); err != nil {
		t.Fatalf("after the session expired: %v", err)
	}
	if err := d.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	var logins, logouts int
	for _, r := range s.Requests() {
		logins += strings.Count(r, "/rest/login")
		logouts += strings.Count(r, "/rest/logout")
	}
	if logins != 2 || logouts != 1 {
		t.Fatalf("%d logins and %d logouts, want 2 and 1", logins, logouts)
	}
}

func TestBadCredentials(t *testing.T) {
	s := newSwitch(t, fostest.Options{})
	d := newDriver(t, s, func(c *Config) { c.Password = "wrong-" + password })
	_, err := d.Info(t.Context())
	t.Logf("error: %v", err)
	if err == nil || fabric.IsTransient(err) || !errors.Is(err, errAuth) {
		t.Fatalf("Info() = %v, want a final authentication error", err)
	}
	if n := len(s.Requests()); n != 1 {
		t.Fatalf("%d requests; a refused password must not be retried", n)
	}
}

// otherCA is a CA that did not sign the switch's certificate.
func otherCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "not the switch's CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestTLS(t *testing.T) {
	s := newSwitch(t, fostest.Options{})
	tests := []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"the switch's CA", nil, true},
		{"another CA", func(c *Config) { c.CA = otherCA(t) }, false},
		{"the system pool", func(c *Config) { c.CA = nil }, false},
		{"verification off", func(c *Config) { c.CA, c.InsecureSkipVerify = nil, true }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDriver(t, s, tc.edit)
			_, err := d.ZoneDBChecksum(t.Context())
			if (err == nil) != tc.ok || fabric.IsTransient(err) {
				t.Fatalf("ZoneDBChecksum() = %v; want ok=%v, and a failure final", err, tc.ok)
			}
		})
	}
}

func TestVFID(t *testing.T) {
	s := newSwitch(t, fostest.Options{VFID: 20})
	tests := []struct {
		vfid int
		ok   bool
	}{{20, true}, {0, false}, {21, false}}
	for _, tc := range tests {
		d := newDriver(t, s, func(c *Config) { c.VFID = tc.vfid })
		_, err := d.ZoneDB(t.Context())
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, fabric.ErrInvalid)) {
			t.Errorf("VFID %d on FID 20: ZoneDB() = %v; want ok=%v", tc.vfid, err, tc.ok)
		}
	}
	if !slices.Contains(s.Requests(), "GET /rest/running/"+resEffective+"?vf-id=20") {
		t.Errorf("no request carried vf-id=20: %v", s.Requests())
	}
}

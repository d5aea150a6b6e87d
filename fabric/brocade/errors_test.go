package brocade

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/brocade/fostest"
	"github.com/sanmob/sanmob/fabric/wwn"
)

func TestClassify(t *testing.T) {
	e := func(tag, msg, path string) []restError {
		return []restError{{Type: "application", Tag: tag, Message: msg, Path: path}}
	}
	tests := []struct {
		name   string
		status int
		errs   []restError
		want   []error // every class the error must wrap; none: final, unclassed
		text   string
	}{
		{"busy without envelope", 503, nil, []error{fabric.ErrUnavailable}, "HTTP 503 Service Unavailable"},
		{"busy", 503, e("operation-failed", "Switch busy", ""), []error{fabric.ErrUnavailable}, "Switch busy"},
		{"proxy lost the answer", 504, nil, []error{fabric.ErrUnavailable}, "HTTP 504"},
		{"bad gateway", 502, nil, []error{fabric.ErrUnavailable}, "HTTP 502"},
		{"fabric lock held", 409, e("lock-denied", "held by bob", ""), []error{fabric.ErrUnavailable}, "held by bob"},
		{"in use", 409, e("in-use", "transaction open", ""), []error{fabric.ErrUnavailable}, "transaction open"},
		{"stale checksum by path", 400, e("invalid-value", "bad value", "/brocade-zone/effective-configuration/checksum"), []error{fabric.ErrConflict}, "(at /brocade-zone/effective-configuration/checksum)"},
		{"stale checksum by message", 400, e("operation-failed", "Checksum mismatch", ""), []error{fabric.ErrConflict}, "Checksum mismatch"},
		{"a zone named checksum_x", 400, e("invalid-value", "zone checksum_x is not defined", ""), []error{fabric.ErrInvalid}, "checksum_x"},
		{"checksum missing", 400, e("missing-element", "checksum is required", "/brocade-zone/effective-configuration/checksum"), []error{fabric.ErrInvalid}, "required"},
		{"already exists", 409, e("data-exists", "zone z exists", ""), []error{fabric.ErrConflict}, "zone z exists"},
		{"zone DB full", 409, e("resource-denied", "exceeds the maximum", ""), []error{fabric.ErrFull, fabric.ErrInvalid}, "exceeds the maximum"},
		{"too big", 400, e("too-big", "too large", ""), []error{fabric.ErrFull, fabric.ErrInvalid}, "too large"},
		{"entity too large", 413, nil, []error{fabric.ErrFull, fabric.ErrInvalid}, "HTTP 413"},
		{"unauthorized", 401, e("access-denied", "Authentication failed", ""), []error{errAuth}, "Authentication failed"},
		{"forbidden", 403, nil, []error{errAuth}, "HTTP 403"},
		{"not found", 404, nil, []error{fabric.ErrNotFound}, "Not Found"},
		{"data missing", 409, e("data-missing", "zone z is not defined", ""), []error{fabric.ErrNotFound}, "zone z"},
		{"invalid value", 400, e("invalid-value", "bad zone name", "/zone"), []error{fabric.ErrInvalid}, "bad zone name"},
		{"malformed", 400, e("malformed-message", "not JSON", ""), []error{fabric.ErrInvalid}, "not JSON"},
		{"not supported", 405, e("operation-not-supported", "no", ""), []error{fabric.ErrInvalid}, "operation-not-supported"},
		{"switch failure", 500, e("operation-failed", "internal error", ""), nil, "HTTP 500 operation-failed: internal error"},
		{"two errors", 400, append(e("invalid-value", "first", ""), e("invalid-value", "second", "")...), []error{fabric.ErrInvalid}, "first; invalid-value: second"},
	}
	classes := []error{fabric.ErrUnavailable, fabric.ErrConflict, fabric.ErrFull, fabric.ErrInvalid, fabric.ErrNotFound, errAuth}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := classify(tc.status, tc.errs)
			for _, c := range classes {
				want := slices.Contains(tc.want, c)
				if errors.Is(err, c) != want {
					t.Errorf("errors.Is(%v, %v) = %v, want %v", err, c, !want, want)
				}
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("%q lacks %q", err, tc.text)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		body string
		want []restError
	}{
		{`{"errors": {"error": [{"error-type": "application", "error-tag": "invalid-value", "error-message": "m", "error-path": "/p"}]}}`,
			[]restError{{"application", "invalid-value", "m", "/p"}}},
		{`{"ietf-restconf:errors": {"error": {"error-tag": "lock-denied", "error-message": "held"}}}`,
			[]restError{{Tag: "lock-denied", Message: "held"}}},
		{`<html>Bad Gateway</html>`, nil},
		{``, nil},
	}
	for _, tc := range tests {
		got := decodeErrors([]byte(tc.body))
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("decodeErrors(%s) = %v, want %v", tc.body, got, tc.want)
		}
	}
}

func TestConfig(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := Config{URL: "https://switch1.example:8443", User: "sanmob", Password: password}
	tests := []struct {
		name string
		edit func(*Config)
		text string // "" for a valid config
	}{
		{"valid", func(*Config) {}, ""},
		{"trailing slash", func(c *Config) { c.URL += "/" }, ""},
		{"http", func(c *Config) { c.URL = "http://switch1" }, "want https"},
		{"credentials in the URL", func(c *Config) { c.URL = "https://sanmob:" + password + "@switch1" }, "carries credentials"},
		{"unparsable", func(c *Config) { c.URL = "https://sanmob:" + password + "@switch 1/%zz" }, "not a valid URL"},
		{"a path", func(c *Config) { c.URL = "https://switch1/rest" }, "nothing more"},
		{"no host", func(c *Config) { c.URL = "https://" }, "nothing more"},
		{"no user", func(c *Config) { c.User = "" }, "User is empty"},
		{"no password", func(c *Config) { c.Password = "" }, "Password is empty"},
		{"VFID", func(c *Config) { c.VFID = 129 }, "VFID 129"},
		{"two CAs", func(c *Config) { c.CA, c.CAFile = []byte("x"), caFile }, "both set"},
		{"insecure with a CA", func(c *Config) { c.CA, c.InsecureSkipVerify = []byte("x"), true }, "would be ignored"},
		{"CA without a certificate", func(c *Config) { c.CAFile = caFile }, "no PEM certificate"},
		{"CA file missing", func(c *Config) { c.CAFile = caFile + ".missing" }, "CAFile"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			_, err := New(c)
			switch {
			case tc.text == "" && err != nil:
				t.Fatalf("New() = %v", err)
			case tc.text == "":
			case !errors.Is(err, fabric.ErrInvalid) || !strings.Contains(err.Error(), tc.text):
				t.Fatalf("New() = %v, want ErrInvalid saying %q", err, tc.text)
			case strings.Contains(err.Error(), password):
				t.Fatalf("the password is in %q", err)
			}
		})
	}
}

// TestPasswordNeverShown collects the errors of every way a session fails
// and the ways a Config is printed; none may show the password, in clear or
// as Basic auth.
func TestPasswordNeverShown(t *testing.T) {
	s := newSwitch(t, fostest.Options{})
	seed(t, s)
	var shown []string
	add := func(_ any, err error) {
		if err == nil {
			t.Fatal("the scenario did not fail")
		}
		shown = append(shown, err.Error())
	}
	add(newDriver(t, s, func(c *Config) { c.Password += "-wrong" }).Info(t.Context()))
	add(newDriver(t, s, func(c *Config) { c.CA = otherCA(t) }).Info(t.Context()))
	gone := newSwitch(t, fostest.Options{})
	gone.Close()
	add(newDriver(t, gone, nil).Info(t.Context()))
	d := newDriver(t, s, func(c *Config) { c.Timeout = 200 * time.Millisecond })
	s.HangNextEnable()
	add(d.Commit(t.Context(), fabric.Txn{Checksum: s.Checksum(), Put: []fabric.Zone{{Name: "sm_a", Members: []wwn.WWN{hostA, target1}}}}))
	add(New(Config{URL: "https://sanmob:" + password + "@switch1", User: "sanmob", Password: password}))
	add(New(Config{URL: "https://sanmob:" + password + "@sw itch/%zz", User: "sanmob", Password: password}))
	cfg := Config{URL: "https://switch1", User: "sanmob", Password: password}
	shown = append(shown, fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%v", &cfg))
	basic := base64.StdEncoding.EncodeToString([]byte("sanmob:" + password))
	for _, s := range shown {
		if strings.Contains(s, password) || strings.Contains(s, basic) {
			t.Errorf("the password shows in %q", s)
		}
	}
}

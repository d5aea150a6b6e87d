package labwire

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/fabric/brocade"
	"github.com/sanmob/sanmob/fabric/brocade/fostest"
)

const secret = "Zx9-labwire-s3cret"

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A Brocade fabric is built from its options alone — no request reaches
// the switch — and the driver built then talks to the switch with them:
// the URL, the user, the password from its file, the CA from its file and
// the logical switch.
func TestBrocadeBuildsWithoutIOAndConnectsOnFirstUse(t *testing.T) {
	sw := fostest.New(fostest.Options{Users: map[string]string{"sanmob": secret}, VFID: 7, SwitchName: "core-a-principal"})
	t.Cleanup(sw.Close)
	spec := devices.Spec{ID: "core-a", Site: "east", Driver: DriverBrocade, Options: map[string]string{
		"url": sw.URL(), "user": "sanmob", "passwordFile": writeFile(t, "pw", secret+"\n"),
		"caFile": writeFile(t, "ca.pem", string(sw.CA())), "vfid": "7",
		"timeout": "5s", "retries": "2", "backoff": "1ms",
	}}
	fabs, _, err := devices.Build(Factories(nil, nil), []devices.Spec{spec}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := sw.Requests(); len(got) != 0 {
		t.Fatalf("building the driver sent %v", got)
	}
	d, ok := fabs[0].Driver.(*brocade.Driver)
	if !ok || fabs[0].DriverName != DriverBrocade {
		t.Fatalf("built %T named %q, want a *brocade.Driver named brocade", fabs[0].Driver, fabs[0].DriverName)
	}
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	info, err := d.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "core-a-principal" {
		t.Errorf("Info = %+v, want the switch core-a-principal", info)
	}
	if got := sw.Requests(); len(got) == 0 || !strings.Contains(strings.Join(got, " "), "vf-id=7") {
		t.Errorf("requests %v do not address vf-id 7", got)
	}
}

func TestBrocadeOptions(t *testing.T) {
	base := map[string]string{"url": "https://switch.example", "user": "sanmob", "password": secret}
	with := func(kv ...string) map[string]string {
		o := map[string]string{}
		for k, v := range base {
			o[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "-" {
				delete(o, kv[i])
			} else {
				o[kv[i]] = kv[i+1]
			}
		}
		return o
	}
	for _, tc := range []struct {
		name    string
		options map[string]string
		wantErr []string // nil: it builds
	}{
		{name: "the least it takes", options: with()},
		{name: "every option", options: with("vfid", "128", "insecureSkipVerify", "true", "timeout", "90s", "retries", "-1", "backoff", "2s")},
		{name: "password from a file", options: with("password", "-", "passwordFile", writeFile(t, "pw", secret))},
		{name: "no options", options: nil, wantErr: []string{"URL"}},
		{name: "a misspelt option", options: with("usr", "x"), wantErr: []string{`unknown option "usr"`, "driver brocade takes options url, user"}},
		{name: "plain http", options: with("url", "http://switch.example"), wantErr: []string{"https"}},
		{name: "no user", options: with("user", "-"), wantErr: []string{"User is empty"}},
		{name: "no password", options: with("password", "-"), wantErr: []string{"Password is empty"}},
		{name: "password twice", options: with("passwordFile", "/etc/hostname"), wantErr: []string{"password and passwordFile are both set"}},
		{name: "a password file that is not there", options: with("password", "-", "passwordFile", "/nonexistent/pw"), wantErr: []string{"option passwordFile", "/nonexistent/pw"}},
		{name: "a CA file that is not there", options: with("caFile", "/nonexistent/ca.pem"), wantErr: []string{"CAFile"}},
		{name: "vfid not a number", options: with("vfid", "five"), wantErr: []string{`option vfid "five": want a number`}},
		{name: "vfid out of range", options: with("vfid", "200"), wantErr: []string{"VFID 200"}},
		{name: "insecureSkipVerify not a bool", options: with("insecureSkipVerify", "yes please"), wantErr: []string{"option insecureSkipVerify"}},
		{name: "timeout without a unit", options: with("timeout", "60"), wantErr: []string{`option timeout "60": want a duration`}},
		{name: "negative backoff", options: with("backoff", "-1s"), wantErr: []string{"Backoff must not be negative"}},
		{name: "every bad option at once", options: with("vfid", "x", "retries", "y"), wantErr: []string{"option vfid", "option retries"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Brocade(nil)(devices.Spec{ID: "core-a", Site: "east", Driver: DriverBrocade, Options: tc.options})
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if d == nil {
					t.Fatal("no driver")
				}
				return
			}
			if err == nil {
				t.Fatalf("built a driver from %v", tc.options)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q carries the password", err)
			}
		})
	}
}

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// exampleConfig is the commented config file operators start from
// (docs/operations.md).
const exampleConfig = "../../examples/sanmob.yaml"

// exampleViewerToken is the public token whose hash examples/sanmob.yaml
// gives the viewer role; the file says so in its comments.
const exampleViewerToken = "example-viewer-token-not-secret"

// TestExampleConfigLoads checks the example config file against the config
// parser alone: every key it uses is one fileConfig knows (the decoder is
// strict) and every value passes validation.
func TestExampleConfigLoads(t *testing.T) {
	c := Config{ConfigFile: exampleConfig, DataDir: t.TempDir(), Listen: "127.0.0.1:0", LabSpeed: 60,
		LabSize: "small", LabFabricPairs: 1, LabWorkloads: true, Compute: "lab", LogFormat: "text", LogLevel: "info"}
	if err := c.validate(); err != nil {
		t.Fatalf("examples/sanmob.yaml does not validate: %v", err)
	}
	roles := map[string]bool{}
	for _, tok := range c.file.Tokens {
		roles[tok.Role] = true
	}
	for _, r := range []string{"admin", "operator", "csi", "viewer"} {
		if !roles[r] {
			t.Errorf("the example has no token of role %s", r)
		}
	}
	f := c.file
	switch {
	case f.Lab == nil, f.Zoning == nil, f.NPIV == nil, f.Alerts == nil, f.QueueDepth == nil:
		t.Errorf("the example leaves out a section: lab %v, zoning %v, npiv %v, alerts %v, queueDepth %v",
			f.Lab != nil, f.Zoning != nil, f.NPIV != nil, f.Alerts != nil, f.QueueDepth != nil)
	case len(f.Fabrics) > 0 || len(f.Arrays) > 0:
		t.Errorf("the example names real fabrics or arrays, which this build refuses without --lab")
	}
	raw, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), exampleViewerToken) {
		t.Errorf("the example does not document its viewer token %q", exampleViewerToken)
	}
}

// TestExampleConfigDaemon starts the real daemon with --config
// examples/sanmob.yaml and checks that it becomes ready, takes the
// documented viewer token, enforces its role, generates no admin.token, and
// applies the file's zoning policy.
func TestExampleConfigDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the daemon")
	}
	raw, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(exampleViewerToken))
	if !strings.Contains(string(raw), hex.EncodeToString(sum[:])) {
		t.Fatalf("examples/sanmob.yaml does not carry the sha256 of %q", exampleViewerToken)
	}
	dir := t.TempDir()
	d := startDaemon(t, dir, "--config", exampleConfig)

	if _, err := os.Stat(filepath.Join(dir, "admin.token")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("admin.token was generated although the config has tokens (stat: %v)", err)
	}
	var sites struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	d.callAs(exampleViewerToken, http.MethodGet, "/v1/sites", nil, http.StatusOK, &sites)
	var ids []string
	for _, s := range sites.Items {
		ids = append(ids, s.ID)
	}
	if strings.Join(ids, ",") != "east,west" {
		t.Errorf("sites = %v, want the example's [east west]", ids)
	}
	if st, body, err := d.request(http.MethodGet, "/v1/sites", "", nil); err != nil || st != http.StatusUnauthorized {
		t.Errorf("GET /v1/sites without a token: %d %s (%v), want 401", st, body, err)
	}
	if st, body, err := d.request(http.MethodGet, "/v1/sites", "not-the-example-token", nil); err != nil || st != http.StatusUnauthorized {
		t.Errorf("GET /v1/sites with a wrong token: %d %s (%v), want 401", st, body, err)
	}
	// A viewer may read, not write.
	if st, body, err := d.request(http.MethodPost, "/v1/hosts", exampleViewerToken, map[string]any{"id": "h1", "site": "east"}); err != nil || st != http.StatusForbidden {
		t.Errorf("POST /v1/hosts as viewer: %d %s (%v), want 403", st, body, err)
	}
	for fabric, want := range map[string]string{"east-a": "sist", "west-a": "peer", "east-b": "sist"} {
		var f struct {
			ZonePolicy string `json:"zonePolicy"`
		}
		body := d.callAs(exampleViewerToken, http.MethodGet, "/v1/fabrics/"+fabric, nil, http.StatusOK, &f)
		if f.ZonePolicy != want {
			t.Errorf("fabric %s: zonePolicy %q, want %q from the example's zoning.policies (%s)", fabric, f.ZonePolicy, want, body)
		}
	}
}

// TestKubernetesConfigValidates checks the config file the Kubernetes
// manifests carry in their Secret (deploy/kubernetes/20-config.yaml) the way
// sanmobd reads it at start.
func TestKubernetesConfigValidates(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/kubernetes/20-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var sec struct {
		Kind       string            `yaml:"kind"`
		StringData map[string]string `yaml:"stringData"`
	}
	if err := yaml.Unmarshal(raw, &sec); err != nil {
		t.Fatal(err)
	}
	body, ok := sec.StringData["sanmob.yaml"]
	if sec.Kind != "Secret" || !ok {
		t.Fatalf("20-config.yaml: kind %q, keys %v: want a Secret with sanmob.yaml", sec.Kind, sec.StringData)
	}
	file := filepath.Join(t.TempDir(), "sanmob.yaml")
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{ConfigFile: file, DataDir: t.TempDir(), Listen: "0.0.0.0:8080", CSIEndpoint: "unix:///csi/csi.sock", LabSpeed: 60,
		LabSize: "small", LabFabricPairs: 1, LabWorkloads: true, Compute: "lab", LogFormat: "json", LogLevel: "info"}
	if err := c.validate(); err != nil {
		t.Fatalf("the Kubernetes Secret's sanmob.yaml does not validate: %v", err)
	}
	if len(c.file.Tokens) == 0 {
		t.Error("the Kubernetes config has no tokens: sanmobd would write admin.token into the data volume")
	}
}

package main

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzConfigFile feeds arbitrary config files to the validation New runs
// before anything touches disk: it returns an error or a valid lab world,
// and never panics.
func FuzzConfigFile(f *testing.F) {
	for _, seed := range []string{
		"tokens:\n  - {name: ops, role: operator, sha256: " + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef}\n",
		"lab:\n  size: large\n  speed: 60\n  hostsPerSite: 3\n",
		"lab:\n  sites: [north, south, east]\n  vmsPerSite: -1\n",
		"fabrics:\n  - id: a\n",
		"lab: {speed: .nan}\n", "tokens: [1, 2]\n", "", "%%%", "lab:\n  sites: ['Bad-Site']\n",
	} {
		f.Add(seed)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content string) {
		path := filepath.Join(dir, "sanmob.yaml")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := Config{ConfigFile: path, DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0",
			LabSpeed: 60, LabSeed: 1, LabSize: "small", LogFormat: "text", LogLevel: "info"}
		if err := cfg.validate(); err != nil {
			return
		}
		if err := cfg.labConfig().Validate(); err != nil {
			t.Fatalf("validate accepted a config whose lab is invalid: %v\n%s", err, content)
		}
		if _, err := os.Stat(cfg.DataDir); err == nil {
			t.Fatal("validation created the data dir")
		}
	})
}

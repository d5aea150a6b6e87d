package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLabFabricPairsFlag: --lab-fabric-pairs sets the lab's
// FabricPairsPerSite, is checked with the rest of the lab's config, and
// the zoning policies may name the fabrics it adds.
func TestLabFabricPairsFlag(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policy, []byte("zoning:\n  policies:\n    east-c: peer\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		pairs int
		want  string // substring of validate's error; "" = valid
	}{
		{"default one pair", nil, 1, ""},
		{"two pairs", []string{"--lab-fabric-pairs", "2"}, 2, ""},
		{"four pairs", []string{"--lab-fabric-pairs=4"}, 4, ""},
		{"negative", []string{"--lab-fabric-pairs", "-1"}, -1, "--lab-fabric-pairs -1"},
		{"beyond the lab's", []string{"--lab-fabric-pairs", "5"}, 5, "FabricPairsPerSite = 5"},
		{"a policy for an added fabric", []string{"--lab-fabric-pairs", "2", "--config", policy}, 2, ""},
		{"a policy for a fabric one pair lacks", []string{"--config", policy}, 1, `unknown fabric "east-c"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", LabSpeed: 60, LabSeed: 1, LabSize: "small", LogFormat: "text"}
			fs := flag.NewFlagSet("sanmobd", flag.ContinueOnError)
			fs.StringVar(&cfg.ConfigFile, "config", "", "")
			labFlags(fs, &cfg)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if got := cfg.labConfig().FabricPairsPerSite; got != tt.pairs {
				t.Fatalf("lab FabricPairsPerSite %d, want %d", got, tt.pairs)
			}
			err := cfg.validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("validate = %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigFileErrorsInPlainWords: a typo in the config file is refused
// with the file, the line and the key path, in words a storage admin reads —
// never a Go type.
func TestConfigFileErrorsInPlainWords(t *testing.T) {
	const top = "(known: tokens, lab, zoning, npiv, alerts, queueDepth, fabrics, arrays)"
	for _, tc := range []struct {
		name, file string
		want       []string // each a whole line of the error, after "--config FILE "
	}{
		{"unknown top-level key", "tokens: []\ntokenz: []\n",
			[]string{`line 2: unknown key "tokenz" ` + top}},
		{"unknown nested key", "lab:\n  seed: 3\n  sped: 60\n",
			[]string{`line 3: unknown key "sped" in lab (known: seed, size, speed, hostsPerSite, vmsPerSite, arraysPerSite, sites)`}},
		{"unknown key in a list item", "tokens:\n  - name: ops\n    rol: viewer\n",
			[]string{`line 3: unknown key "rol" in tokens[0] (known: name, role, sha256)`}},
		{"a word for a number", "lab:\n  size: small\n\n\n\n\n  speed: fast\n",
			[]string{`line 7: lab.speed: want a number, got "fast"`}},
		{"a fraction for a whole number", "lab:\n  hostsPerSite: 2.5\n",
			[]string{`line 2: lab.hostsPerSite: want a whole number, got "2.5"`}},
		{"a negative range", "npiv:\n  pools:\n    - oui: 00:1a:4a\n      first: -1\n      last: 9\n",
			[]string{`line 4: npiv.pools[0].first: want a whole number, not negative, got "-1"`}},
		{"a scalar for a list", "lab:\n  sites: north\n",
			[]string{`line 2: lab.sites: want a list, got "north"`}},
		{"a list for a string", "zoning:\n  policies:\n    east-a: [peer]\n",
			[]string{`line 3: zoning.policies.east-a: want a string, got a list`}},
		{"a scalar for a mapping", "queueDepth:\n  thresholds: 5ms\n",
			[]string{`line 2: queueDepth.thresholds: want a mapping of keys to values, got "5ms"`}},
		{"a list at the top", "- tokens\n",
			[]string{`line 1: the top level: want a mapping of keys to values, got a list`}},
		{"several at once", "tokenz: []\nlab:\n  speed: fast\n",
			[]string{`line 1: unknown key "tokenz" ` + top, `line 3: lab.speed: want a number, got "fast"`}},
		{"not YAML", "tokens: [unclosed\n",
			[]string{`line 1: not valid YAML: did not find expected ',' or ']'`}},
		{"a key twice", "lab:\n  speed: 1\n  speed: 2\n",
			[]string{`line 3: mapping key "speed" already defined at line 2`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "sanmob.yaml")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := Config{ConfigFile: path, DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0",
				LabSpeed: 60, LabSeed: 1, LabSize: "small", LogFormat: "text", LogLevel: "info"}
			err := cfg.validate()
			if err == nil {
				t.Fatal("accepted")
			}
			var got []string
			for _, l := range strings.Split(err.Error(), "\n") {
				rest, ok := strings.CutPrefix(l, "--config "+path+" ")
				if !ok {
					t.Errorf("a line that does not start with the file: %q", l)
				}
				got = append(got, rest)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("error\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			for _, goWord := range []string{"main.", "fileConfig", "!!", "float64", "int64", "unmarshal", "struct"} {
				if strings.Contains(err.Error(), goWord) {
					t.Errorf("the error speaks Go (%q): %v", goWord, err)
				}
			}
		})
	}
}

// TestConfigTokensUnique: two tokens with one name, or one hash under two
// roles, are refused.
func TestConfigTokensUnique(t *testing.T) {
	const h1 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	const h2 = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	for file, want := range map[string]string{
		"tokens:\n  - {name: ops, role: admin, sha256: " + h1 + "}\n  - {name: ops, role: viewer, sha256: " + h2 + "}\n": "both named \"ops\"",
		"tokens:\n  - {name: a, role: admin, sha256: " + h1 + "}\n  - {name: b, role: viewer, sha256: " + h1 + "}\n":     "the same sha256",
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "sanmob.yaml")
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := Config{ConfigFile: path, DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0",
			LabSpeed: 60, LabSeed: 1, LabSize: "small", LogFormat: "text", LogLevel: "info"}
		if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", file, err, want)
		}
	}
}

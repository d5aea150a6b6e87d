package main

import (
	"bytes"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLabSurvivesSIGKILL: the lab's devices keep what sanmob did to them
// across a kill -9 of the daemon, as real devices would — the volume it
// created, the masking and zones of the attachment, and the virtual clock.
func TestLabSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	d := startDaemon(t, dataDir)
	var vol struct {
		ID    string `json:"id"`
		Array string `json:"array"`
	}
	d.call(http.MethodPost, "/v1/volumes", map[string]any{"name": "lab-keeps-me", "sizeBytes": 1 << 30, "site": "east"}, http.StatusCreated, &vol)
	d.call(http.MethodPost, "/v1/attachments", map[string]any{"volume": vol.ID, "node": "east-esx03"}, http.StatusCreated, nil)
	mappings := "/v1/lab/arrays/" + vol.Array + "/mappings"
	var before list[struct {
		Volume string `json:"volume"`
		LUN    int    `json:"lun"`
	}]
	rawBefore := d.call(http.MethodGet, mappings, nil, http.StatusOK, &before)
	if len(before.Items) != labVMs+1 {
		t.Fatalf("%d mappings on %s after the attach, want %d", len(before.Items), vol.Array, labVMs+1)
	}
	zonesBefore := d.call(http.MethodGet, "/v1/lab/fabrics/east-a/zonedb", nil, http.StatusOK, nil)
	var clk struct {
		Now time.Time `json:"now"`
	}
	d.call(http.MethodGet, "/v1/lab/clock", nil, http.StatusOK, &clk)
	// The lab saves its clock every few seconds of real time: wait for a
	// save after the read, so that the read time is one the lab recorded.
	read := time.Now()
	for deadline := read.Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if st, err := os.Stat(filepath.Join(dataDir, "lab", "clock")); err == nil && st.ModTime().After(read) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lab did not save its clock within 15s")
		}
	}
	d.kill()

	d2 := startDaemon(t, dataDir)
	var v struct {
		Missing bool `json:"missing"`
	}
	d2.call(http.MethodGet, "/v1/volumes/"+vol.ID, nil, http.StatusOK, &v)
	if v.Missing {
		t.Errorf("volume %s is missing after SIGKILL and restart: the lab forgot it", vol.ID)
	}
	if raw := d2.call(http.MethodGet, mappings, nil, http.StatusOK, nil); !bytes.Equal(raw, rawBefore) {
		t.Errorf("the lab's mappings on %s changed across SIGKILL and restart:\n got %s\nwant %s", vol.Array, raw, rawBefore)
	}
	if raw := d2.call(http.MethodGet, "/v1/lab/fabrics/east-a/zonedb", nil, http.StatusOK, nil); !bytes.Equal(raw, zonesBefore) {
		t.Errorf("east-a's zone DB changed across SIGKILL and restart")
	}
	var drift struct {
		Missing []any `json:"missing"`
	}
	d2.call(http.MethodPost, "/v1/fabrics/east-a/reconcile", nil, http.StatusOK, &drift)
	if len(drift.Missing) != 0 {
		t.Errorf("drift on east-a after SIGKILL and restart: %d zones missing", len(drift.Missing))
	}
	var clk2 struct {
		Now time.Time `json:"now"`
	}
	d2.call(http.MethodGet, "/v1/lab/clock", nil, http.StatusOK, &clk2)
	if clk2.Now.Before(clk.Now) {
		t.Errorf("the lab clock went back across SIGKILL and restart: %v, %v before", clk2.Now, clk.Now)
	}
}

// TestLabResetFlag: --lab-reset reaches the lab's config; the lab's state
// lives under <data-dir>/lab.
func TestLabResetFlag(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		reset bool
	}{
		{"default keeps the state", nil, false},
		{"--lab-reset", []string{"--lab-reset"}, true},
		{"--lab-reset=false", []string{"--lab-reset=false"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{DataDir: "/d", LabSpeed: 60, LabSeed: 1, LabSize: "small"}
			fs := flag.NewFlagSet("sanmobd", flag.ContinueOnError)
			labFlags(fs, &cfg)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			lc := cfg.labConfig()
			if lc.Reset != tt.reset || lc.Dir != filepath.Join("/d", "lab") {
				t.Fatalf("lab config Dir %q Reset %t, want %q %t", lc.Dir, lc.Reset, "/d/lab", tt.reset)
			}
		})
	}
}

package lab

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
)

var testEpoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newWorld(t testing.TB, cfg Config) *World {
	t.Helper()
	if cfg.Epoch.IsZero() {
		cfg.Epoch = testEpoch
	}
	w, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return w
}

// refZoneName is the naming rule as fabric/names.go states it, written
// independently of fabric.AppendSISTZoneName.
func refZoneName(vmID string, ini wwn.WWN, arrayID string, tgt wwn.WWN) string {
	label := func(s string) string {
		if s == "" {
			return "x"
		}
		return s[:min(len(s), 13)]
	}
	s := fmt.Sprintf("sm_%s_%s_%s_%s", label(vmID), strings.ReplaceAll(ini.String(), ":", ""),
		label(arrayID), strings.ReplaceAll(tgt.String(), ":", ""))
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(zoneChars, r) {
			return r
		}
		return '_'
	}, s)
}

const zoneChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$^-"

// validZoneName: 1-64 characters of zoneChars, a letter first (older FOS).
func validZoneName(s string) bool {
	if len(s) == 0 || len(s) > 64 || !strings.ContainsRune(zoneChars[:52], rune(s[0])) {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune(zoneChars, r) {
			return false
		}
	}
	return true
}

// refSerialize is the canonical serialization documented in names.go,
// written from the public ZoneDB so that it checks the switch's own
// streaming serializer rather than repeating it.
func refSerialize(db fabric.ZoneDB) []byte {
	var b bytes.Buffer
	zones := slices.Clone(db.Zones)
	slices.SortFunc(zones, func(x, y fabric.Zone) int { return strings.Compare(x.Name, y.Name) })
	join := func(ws []wwn.WWN) string {
		s := make([]string, len(ws))
		for i, w := range ws {
			s[i] = w.String()
		}
		return strings.Join(s, ",")
	}
	for _, z := range zones {
		fmt.Fprintf(&b, "zone %s %s", z.Name, join(z.Members))
		if len(z.Principals) > 0 {
			fmt.Fprintf(&b, " principals %s", join(z.Principals))
		}
		b.WriteByte('\n')
	}
	eff := slices.Clone(db.Effective)
	slices.Sort(eff)
	fmt.Fprintf(&b, "cfg %s %s\n", db.EffectiveCfg, strings.Join(eff, ","))
	return b.Bytes()
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// dump is every driver answer of the world, in JSON, for byte comparisons.
func dump(t testing.TB, w *World) []byte {
	t.Helper()
	ctx := context.Background()
	var out []any
	add := func(v any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	out = append(out, w.Sites(), w.Links())
	for _, f := range w.Fabrics() {
		add(f.Switch.Info(ctx))
		add(f.Switch.Logins(ctx))
		add(f.Switch.ZoneDB(ctx))
	}
	for _, a := range w.Arrays() {
		add(a.Array.Info(ctx))
		add(a.Array.TargetPorts(ctx))
		add(a.Array.Pools(ctx))
		add(a.Array.Volumes(ctx))
		add(a.Array.Snapshots(ctx))
		add(a.Array.Mappings(ctx))
	}
	add(w.Compute().Hosts(ctx))
	add(w.Compute().VMs(ctx))
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

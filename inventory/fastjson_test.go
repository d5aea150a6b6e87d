package inventory

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/sanmob/sanmob/fabric/wwn"
)

func randomVM(r *rand.Rand) VM {
	str := func() string {
		const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_. é\"\\<"
		b := make([]rune, r.IntN(14))
		for i := range b {
			b[i] = []rune(alphabet)[r.IntN(len([]rune(alphabet)))]
			if r.IntN(4) > 0 {
				b[i] = rune('a' + r.IntN(26)) // mostly plain, some needing escapes
			}
		}
		return string(b)
	}
	at := time.Date(2020+r.IntN(10), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), 0, r.IntN(60), r.IntN(1e9), time.UTC)
	v := VM{ID: str(), Name: str(), Host: str(), Site: str(), Shares: r.IntN(20000) - 10, CreatedAt: at, UpdatedAt: at.Add(time.Duration(r.Int64N(1e15)))}
	if r.IntN(8) > 0 {
		v.Vports = []Vport{}
		for range r.IntN(5) {
			p := Vport{Fabric: str(), WWPN: wwn.FromUint64(r.Uint64()), WWNN: wwn.FromUint64(r.Uint64()), Set: str(), Active: r.IntN(2) == 0, LoggedIn: r.IntN(3) == 0}
			if r.IntN(3) == 0 {
				p.HBA = wwn.FromUint64(r.Uint64())
			}
			if r.IntN(10) == 0 {
				t := at.Add(time.Hour)
				p.LoggedInAt = &t
			}
			v.Vports = append(v.Vports, p)
		}
	}
	if r.IntN(8) > 0 {
		v.Volumes = []VolumeRef{}
		for range r.IntN(4) {
			v.Volumes = append(v.Volumes, VolumeRef{ID: str(), LUN: r.IntN(16384)})
		}
	}
	return v
}

func randomVolume(r *rand.Rand) Volume {
	vm := randomVM(r) // for its strings and times
	v := Volume{ID: vm.ID, Name: vm.Name, Array: vm.Host, Pool: vm.Site, SizeBytes: r.Int64() >> r.IntN(64), UsedBytes: -r.Int64N(1 << 40),
		WWN: "naa.6" + vm.Name, Thin: r.IntN(2) == 0, Missing: r.IntN(5) == 0, MultiNode: r.IntN(5) == 0, CreatedAt: vm.CreatedAt}
	if r.IntN(3) == 0 {
		v.FromSnapshot = vm.Site
	}
	if r.IntN(2) == 0 {
		lun := r.IntN(16384)
		v.LUN = &lun
	}
	return v
}

// checkFastDecode decodes raw both ways: where the fast decoder accepts
// raw, encoding/json must too, with the same result.
func checkFastDecode[T any, PT interface {
	*T
	fastDecoder
}](t *testing.T, raw []byte) (accepted bool) {
	t.Helper()
	var fast, slow T
	if !PT(&fast).decodeFast(raw) {
		return false
	}
	if err := json.Unmarshal(raw, &slow); err != nil {
		t.Fatalf("fast decoder accepted what encoding/json refuses (%v):\n%s", err, raw)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("decoders differ on\n%s\nfast %+v\njson %+v", raw, fast, slow)
	}
	return true
}

// TestFastDecodeMatchesEncodingJSON round-trips random records through
// encoding/json: the fast decoder agrees wherever it accepts, and accepts
// every record with plain strings, as the inventory's are.
func TestFastDecodeMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	plainVMs, acceptedVMs, plainVols, acceptedVols := 0, 0, 0, 0
	for range 5000 {
		vm := randomVM(r)
		raw, _ := json.Marshal(vm)
		plain := !reflect.ValueOf(vm).IsZero() && jsonIsPlain(raw) && !hasLoggedInAt(vm)
		if checkFastDecode[VM](t, raw) {
			acceptedVMs++
		} else if plain {
			t.Fatalf("fast decoder gave up on a plain VM record:\n%s", raw)
		}
		if plain {
			plainVMs++
		}
		vol := randomVolume(r)
		raw, _ = json.Marshal(vol)
		if checkFastDecode[Volume](t, raw) {
			acceptedVols++
		} else if jsonIsPlain(raw) {
			t.Fatalf("fast decoder gave up on a plain volume record:\n%s", raw)
		}
		if jsonIsPlain(raw) {
			plainVols++
		}
	}
	if plainVMs < 500 || plainVols < 500 {
		t.Fatalf("too few plain records to mean anything: %d VMs, %d volumes", plainVMs, plainVols)
	}
	t.Logf("accepted %d VM and %d volume records of 5000 each", acceptedVMs, acceptedVols)
}

// jsonIsPlain reports whether raw has no escapes and no non-ASCII bytes.
func jsonIsPlain(raw []byte) bool {
	for _, c := range raw {
		if c == '\\' || c >= 0x7f {
			return false
		}
	}
	return true
}

func hasLoggedInAt(vm VM) bool {
	for _, p := range vm.Vports {
		if p.LoggedInAt != nil {
			return true
		}
	}
	return false
}

// FuzzFastDecode: on any input, what the fast decoders accept,
// encoding/json accepts and decodes the same.
func FuzzFastDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 1))
	for range 8 {
		raw, _ := json.Marshal(randomVM(r))
		f.Add(raw)
		raw, _ = json.Marshal(randomVolume(r))
		f.Add(raw)
	}
	for _, s := range []string{`{}`, ` { "id" : "a" , "lun" : -0 } `, `{"shares":01}`, `{"id":"a","id":"b"}`, `{"vports":[]}`, `{"volumes":[{"id":"x","lun":1e2}]}`, `{"thin":truex}`, `{"lun":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkFastDecode[VM](t, raw)
		checkFastDecode[Volume](t, raw)
	})
}

package wwn

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	want := WWN{0x10, 0x00, 0x00, 0x90, 0xfa, 0x12, 0x34, 0x56}
	tests := []struct {
		name string
		in   string
	}{
		{"colon lower", "10:00:00:90:fa:12:34:56"},
		{"colon upper", "10:00:00:90:FA:12:34:56"},
		{"colon short groups", "10:0:0:90:fa:12:34:56"},
		{"dashes", "10-00-00-90-fa-12-34-56"},
		{"bare", "10000090fa123456"},
		{"bare upper", "10000090FA123456"},
		{"0x sysfs", "0x10000090fa123456"},
		{"0X", "0X10000090FA123456"},
		{"blanks", "  10:00:00:90:fa:12:34:56\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got != want {
				t.Fatalf("Parse(%q) = %v, want %v", tt.in, got, want)
			}
			if got.String() != "10:00:00:90:fa:12:34:56" {
				t.Fatalf("canonical form %q", got.String())
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{
		"", "0x", "10:00:00:90:fa:12:34", "10:00:00:90:fa:12:34:56:78", "10000090fa12345",
		"10000090fa1234567", "10:00:00:90:fa:12:34:5g", "10:000:00:90:fa:12:34:56", "10::00:90:fa:12:34:56",
		"10:00-00:90:fa:12:34:56", "1000 0090fa123456", "zz000090fa123456", "10:00:00:90:fa:12:34:56:",
	} {
		t.Run(in, func(t *testing.T) {
			if w, err := Parse(in); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) = %v, %v; want ErrInvalid", in, w, err)
			}
		})
	}
}

func TestNAAAndOUI(t *testing.T) {
	tests := []struct {
		in     string
		naa    NAA
		oui    uint32
		hasOUI bool
		pretty string
	}{
		{"10:00:00:90:fa:12:34:56", NAAIEEE, 0x0090fa, true, "ieee"},
		{"21:00:00:24:ff:7a:8b:9c", NAAIEEEExtended, 0x0024ff, true, "ieee-extended"},
		{"50:01:a4:a0:00:00:00:02", NAAIEEERegistered, 0x001a4a, true, "ieee-registered"},
		{"30:00:00:00:00:00:00:01", NAALocal, 0, false, "local"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			w := MustParse(tt.in)
			if w.NAA() != tt.naa || w.NAA().String() != tt.pretty {
				t.Fatalf("NAA = %v (%s), want %v", w.NAA(), w.NAA(), tt.naa)
			}
			oui, ok := w.OUI()
			if ok != tt.hasOUI || oui != tt.oui {
				t.Fatalf("OUI = %#x,%v want %#x,%v", oui, ok, tt.oui, tt.hasOUI)
			}
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	type rec struct {
		W WWN `json:"wwpn"`
	}
	var r rec
	if err := json.Unmarshal([]byte(`{"wwpn":"0x500143800637A7B2"}`), &r); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(r)
	if string(out) != `{"wwpn":"50:01:43:80:06:37:a7:b2"}` {
		t.Fatalf("marshal = %s", out)
	}
	if err := json.Unmarshal([]byte(`{"wwpn":"nope"}`), &r); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad wwpn decoded without ErrInvalid: %v", err)
	}
}

func TestUint64RoundTrip(t *testing.T) {
	w := MustParse("50:01:a4:a0:00:00:00:02")
	if FromUint64(w.Uint64()) != w {
		t.Fatal("Uint64 round trip")
	}
	if w.Hex() != "5001a4a000000002" {
		t.Fatalf("Hex %s", w.Hex())
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"10:00:00:90:fa:12:34:56", "0x5001a4a000000002", "10-00-00-90-fa-12-34-56", "", ":::::::", "0x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error without ErrInvalid: %v", err)
			}
			return
		}
		// Every accepted input prints one canonical form that parses back to
		// the same name, in each of the other notations too.
		for _, form := range []string{w.String(), w.Hex(), "0x" + w.Hex()} {
			back, err := Parse(form)
			if err != nil || back != w {
				t.Fatalf("Parse(%q) -> %v -> %q -> %v, %v", s, w, form, back, err)
			}
		}
	})
}

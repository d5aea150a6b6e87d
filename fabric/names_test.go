package fabric

import (
	"errors"
	"strings"
	"testing"

	"github.com/sanmob/sanmob/fabric/wwn"
)

func TestZoneNames(t *testing.T) {
	ini := wwn.MustParse("50:01:a4:a4:4f:c8:87:d2")
	tgt := wwn.MustParse("50:00:2a:c0:05:60:21:01")
	tests := []struct {
		name     string
		got      string
		want     string
		wantSize int
	}{
		{"short labels", SISTZoneName("east-vm001", ini, "east-arr1", tgt),
			"sm_east-vm001_5001a4a44fc887d2_east-arr1_50002ac005602101", 0},
		{"long labels are cut to 13", SISTZoneName("production-database-01", ini, "array.example.com", tgt),
			"sm_production-da_5001a4a44fc887d2_array_example_50002ac005602101", MaxZoneNameLen},
		{"characters outside the set", SISTZoneName("vm 1/ä", ini, "a:b", tgt),
			"sm_vm_1___" + "_5001a4a44fc887d2_a_b_50002ac005602101", 0},
		{"empty labels keep the shape", SISTZoneName("", ini, "", tgt),
			"sm_x_5001a4a44fc887d2_x_50002ac005602101", 0},
		{"peer", PeerZoneName("east-arr1", tgt), "sm_peer_east-arr1_50002ac005602101", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got  %s\nwant %s", tt.got, tt.want)
			}
			if tt.wantSize > 0 && len(tt.got) != tt.wantSize {
				t.Fatalf("len %d, want %d", len(tt.got), tt.wantSize)
			}
			if err := CheckZoneName(tt.got); err != nil {
				t.Fatal(err)
			}
			if !Owned(tt.got) {
				t.Fatal("not recognised as sanmob's")
			}
		})
	}
}

func TestCheckZoneName(t *testing.T) {
	for _, bad := range []string{"", "1zone", "_zone", "zone name", "zone:x", strings.Repeat("z", 65), "zoné"} {
		if err := CheckZoneName(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", bad, err)
		}
	}
	for _, good := range []string{"z", "Zone_1$^-", strings.Repeat("z", 64)} {
		if err := CheckZoneName(good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
}

// FuzzZoneName: whatever the labels, the name is one Brocade accepts, is
// sanmob's, and differs for different ports.
func FuzzZoneName(f *testing.F) {
	f.Add("east-vm001", uint64(0x5001a4a44fc887d2), "east-arr1", uint64(0x50002ac005602101))
	f.Add("", uint64(1), "", uint64(2))
	f.Add("ünïcödé/with spaces and a very long tail", uint64(0), "\x00\xff", uint64(1<<63))
	f.Fuzz(func(t *testing.T, il string, i uint64, tl string, g uint64) {
		ini, tgt := wwn.FromUint64(i), wwn.FromUint64(g)
		for _, n := range []string{SISTZoneName(il, ini, tl, tgt), PeerZoneName(tl, tgt)} {
			if err := CheckZoneName(n); err != nil {
				t.Fatal(err)
			}
			if !Owned(n) {
				t.Fatalf("%q not owned", n)
			}
		}
		if SISTZoneName(il, ini, tl, tgt) == SISTZoneName(il, wwn.FromUint64(i+1), tl, tgt) {
			t.Fatal("two initiators, one name")
		}
		if SISTZoneName(il, ini, tl, tgt) != string(AppendSISTZoneName(nil, il, ini, tl, tgt)) {
			t.Fatal("Append and string forms differ")
		}
	})
}

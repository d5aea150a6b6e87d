package server

import (
	"bytes"
	"fmt"
	"testing"
)

func TestDupKeys(t *testing.T) {
	for _, c := range []struct{ in, field string }{
		{`{"a":1,"b":2}`, ""},
		{`{"a":1,"a":2}`, "a"},
		{`{"sizeBytes":1,"SizeBytes":2}`, "SizeBytes"},
		{`{"hbas":[{"wwpn":"x"},{"wwpn":"y","fabric":"f","wwpn":"z"}]}`, "hbas[1].wwpn"},
		{`[{"x":{"y":{"z":1,"z":1}}}]`, "[0].x.y.z"},
		{`{"a":{"b":1},"b":{"a":1}}`, ""},
		{`{"a":1,`, ""}, // not JSON: the decoder says so
		{`"a"`, ""},
	} {
		err := dupKeys([]byte(c.in))
		fe, _ := err.(*FieldErr)
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s: %v, want nil", c.in, err)
		case c.field != "" && (fe == nil || fe.Field != c.field):
			t.Errorf("%s: %v, want a duplicate key at %s", c.in, err, c.field)
		}
	}
}

// BenchmarkDupKeysTelemetry: the pre-pass over a full telemetry batch
// (5,000 samples).
func BenchmarkDupKeysTelemetry(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := range 5000 {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"host":"east-esx%02d","volume":"east-vm%03d-d0","targetPortWWPN":"50:00:00:00:00:00:00:%02x","at":"2026-11-30T01:02:03.123456789Z","iops":1234.5,"latencyMs":0.75,"outstanding":12,"qfull":0,"busy":0}`, i%10, i%300, i%256)
	}
	buf.WriteByte(']')
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		if err := dupKeys(buf.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDupKeysEscaped(t *testing.T) {
	for _, in := range []string{`{"a":1,"\u0061":2}`, `{"x":"}{\"","x":1}`, `{"s":"a,\"b\":1","s":2}`} {
		if err := dupKeys([]byte(in)); err == nil {
			t.Errorf("%s: no duplicate found", in)
		}
	}
	if err := dupKeys([]byte(`{"s":"a,\"s\":1","t":2}`)); err != nil {
		t.Errorf("a key inside a string value: %v", err)
	}
}

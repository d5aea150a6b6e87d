package wwn

import (
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = errors.New("invalid WWN")

// WWN is an 8-byte Fibre Channel World Wide Name. The zero value is "no name";
// fabrics never assign it, so IsZero is a safe "unset" test.
type WWN [8]byte

// NAA is the Network Address Authority format, the first nibble of a WWN.
type NAA uint8

// The NAA formats seen on Fibre Channel fabrics.
const (
	NAAIEEE                 NAA = 1 // 10:00:<48-bit MAC>
	NAAIEEEExtended         NAA = 2 // 2x:xx:<48-bit MAC>
	NAALocal                NAA = 3
	NAAIEEERegistered       NAA = 5 // 5 + 24-bit OUI + 36-bit vendor part
	NAAIEEERegisteredExtend NAA = 6 // 16-byte names (LUN WWNs); its 8-byte head only here
)

func (n NAA) String() string {
	switch n {
	case NAAIEEE:
		return "ieee"
	case NAAIEEEExtended:
		return "ieee-extended"
	case NAALocal:
		return "local"
	case NAAIEEERegistered:
		return "ieee-registered"
	case NAAIEEERegisteredExtend:
		return "ieee-registered-extended"
	default:
		return fmt.Sprintf("naa-%d", uint8(n))
	}
}

// Parse accepts the notations admins and tools use: colon separated
// (10:00:00:90:fa:12:34:56, also with single-digit groups as some switch CLIs
// print them), dash separated, bare 16 hex digits, and any of those with a 0x
// prefix, in either case. Surrounding blanks are ignored.
func Parse(s string) (WWN, error) {
	if w, ok := parseCanonical(s); ok {
		return w, nil
	}
	var w WWN
	in := strings.TrimSpace(s)
	if len(in) >= 2 && in[0] == '0' && (in[1] == 'x' || in[1] == 'X') {
		in = in[2:]
	}
	if in == "" {
		return w, fmt.Errorf("%w %q: empty", ErrInvalid, s)
	}
	var sep byte
	for i := 0; i < len(in); i++ {
		if c := in[i]; c == ':' || c == '-' {
			sep = c
			break
		}
	}
	if sep == 0 {
		if len(in) != 16 {
			return w, fmt.Errorf("%w %q: want 16 hex digits, got %d characters", ErrInvalid, s, len(in))
		}
		if _, err := hex.Decode(w[:], []byte(in)); err != nil {
			return WWN{}, fmt.Errorf("%w %q: not hexadecimal", ErrInvalid, s)
		}
		return w, nil
	}
	groups := strings.Split(in, string(sep))
	if len(groups) != 8 {
		return w, fmt.Errorf("%w %q: want 8 groups separated by %q, got %d", ErrInvalid, s, sep, len(groups))
	}
	for i, g := range groups {
		if len(g) < 1 || len(g) > 2 {
			return WWN{}, fmt.Errorf("%w %q: group %d is %q", ErrInvalid, s, i+1, g)
		}
		var b byte
		for j := 0; j < len(g); j++ {
			d, ok := hexDigit(g[j])
			if !ok {
				return WWN{}, fmt.Errorf("%w %q: not hexadecimal", ErrInvalid, s)
			}
			b = b<<4 | d
		}
		w[i] = b
	}
	return w, nil
}

// parseCanonical is the allocation-free path for the form sanmob itself
// prints (xx:xx:xx:xx:xx:xx:xx:xx), which is most of what it reads back.
func parseCanonical(s string) (WWN, bool) {
	var w WWN
	if len(s) != 23 {
		return w, false
	}
	for i := range 8 {
		if i > 0 && s[3*i-1] != ':' {
			return WWN{}, false
		}
		hi, ok1 := hexDigit(s[3*i])
		lo, ok2 := hexDigit(s[3*i+1])
		if !ok1 || !ok2 {
			return WWN{}, false
		}
		w[i] = hi<<4 | lo
	}
	return w, true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// MustParse is for constants in tests and generators; it panics on bad input.
func MustParse(s string) WWN {
	w, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return w
}

// FromUint64 and Uint64 make WWNs usable as compact map keys and counters.
func FromUint64(v uint64) WWN {
	var w WWN
	for i := 7; i >= 0; i-- {
		w[i] = byte(v)
		v >>= 8
	}
	return w
}

// Uint64 returns the name as a big-endian integer.
func (w WWN) Uint64() uint64 {
	var v uint64
	for _, b := range w {
		v = v<<8 | uint64(b)
	}
	return v
}

// Compare orders WWNs by their 64-bit value: -1, 0 or +1.
func (w WWN) Compare(v WWN) int { return cmp.Compare(w.Uint64(), v.Uint64()) }

// IsZero reports whether w is the unset name.
func (w WWN) IsZero() bool { return w == WWN{} }

// NAA returns the format nibble.
func (w WWN) NAA() NAA { return NAA(w[0] >> 4) }

// OUI returns the IEEE organisationally unique identifier embedded in the
// name, and false where the format carries none.
func (w WWN) OUI() (uint32, bool) {
	switch w.NAA() {
	case NAAIEEE, NAAIEEEExtended:
		return uint32(w[2])<<16 | uint32(w[3])<<8 | uint32(w[4]), true
	case NAAIEEERegistered, NAAIEEERegisteredExtend:
		v := w.Uint64()
		return uint32(v>>36) & 0xffffff, true
	}
	return 0, false
}

const hexdigits = "0123456789abcdef"

// String prints the canonical form: lowercase, colon separated.
func (w WWN) String() string {
	var b [23]byte
	for i, v := range w {
		if i > 0 {
			b[i*3-1] = ':'
		}
		b[i*3] = hexdigits[v>>4]
		b[i*3+1] = hexdigits[v&0xf]
	}
	return string(b[:])
}

// Hex prints the 16 bare lowercase hex digits Linux sysfs and Redfish use.
func (w WWN) Hex() string { return hex.EncodeToString(w[:]) }

// MarshalText makes WWNs print canonically in JSON and YAML.
func (w WWN) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

// UnmarshalText accepts every notation Parse does.
func (w *WWN) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*w = v
	return nil
}

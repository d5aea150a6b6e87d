package fabric

import (
	"fmt"
	"strings"

	"github.com/sanmob/sanmob/fabric/wwn"
)

// Zone names. sanmob names every zone it makes with OwnedPrefix; any other
// zone is an administrator's and is never changed. A name is a function of
// the zone's content, so a restart, a retry or a second sanmob names a zone
// the same way:
//
//	single initiator, single target:  sm_<initiator label>_<initiator hex>_<target label>_<target hex>
//	peer (one target, its initiators): sm_peer_<target label>_<target hex>
//
// Labels (a VM or host id, an array id) are for the people reading the zone
// DB: truncated to LabelLen, with every character outside Brocade's set
// [A-Za-z0-9_$^-] replaced by '_'. The longest SIST name is exactly
// MaxZoneNameLen, Brocade's limit; names start with a letter, as FOS before
// 7 required.
const (
	OwnedPrefix    = "sm_"
	peerPrefix     = OwnedPrefix + "peer_"
	MaxZoneNameLen = 64
	LabelLen       = 13
	peerLabelLen   = 24
)

// Owned reports whether sanmob named, and therefore owns, the zone.
func Owned(name string) bool { return strings.HasPrefix(name, OwnedPrefix) }

// AppendSISTZoneName appends the name of the single-initiator zone of ini
// and tgt.
func AppendSISTZoneName(b []byte, iniLabel string, ini wwn.WWN, tgtLabel string, tgt wwn.WWN) []byte {
	b = append(b, OwnedPrefix...)
	b = appendLabel(b, iniLabel, LabelLen)
	b = append(b, '_')
	b = appendHex(b, ini)
	b = append(b, '_')
	b = appendLabel(b, tgtLabel, LabelLen)
	b = append(b, '_')
	return appendHex(b, tgt)
}

// SISTZoneName is AppendSISTZoneName as a string.
func SISTZoneName(iniLabel string, ini wwn.WWN, tgtLabel string, tgt wwn.WWN) string {
	return string(AppendSISTZoneName(make([]byte, 0, MaxZoneNameLen), iniLabel, ini, tgtLabel, tgt))
}

// PeerZoneName is the name of the peer zone whose principal is tgt.
func PeerZoneName(tgtLabel string, tgt wwn.WWN) string {
	b := make([]byte, 0, MaxZoneNameLen)
	b = append(b, peerPrefix...)
	b = appendLabel(b, tgtLabel, peerLabelLen)
	b = append(b, '_')
	return string(appendHex(b, tgt))
}

// CheckZoneName returns an error wrapping ErrInvalid unless name is a zone
// name Brocade accepts: 1–64 characters of [A-Za-z0-9_$^-], starting with a
// letter.
func CheckZoneName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty zone name", ErrInvalid)
	case len(name) > MaxZoneNameLen:
		return fmt.Errorf("%w: zone name %q is %d characters, more than %d", ErrInvalid, name, len(name), MaxZoneNameLen)
	case !isLetter(name[0]):
		return fmt.Errorf("%w: zone name %q does not start with a letter", ErrInvalid, name)
	}
	for i := 0; i < len(name); i++ {
		if !zoneNameChar(name[i]) {
			return fmt.Errorf("%w: zone name %q has %q at %d; allowed are A-Z a-z 0-9 _ $ ^ -", ErrInvalid, name, name[i], i)
		}
	}
	return nil
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func zoneNameChar(c byte) bool {
	return isLetter(c) || '0' <= c && c <= '9' || c == '_' || c == '$' || c == '^' || c == '-'
}

// appendLabel appends at most n bytes of s, each outside the allowed set
// replaced by '_'; an empty label becomes "x" so that the name keeps its
// shape.
func appendLabel(b []byte, s string, n int) []byte {
	if s == "" {
		return append(b, 'x')
	}
	s = s[:min(len(s), n)]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !zoneNameChar(c) {
			c = '_'
		}
		b = append(b, c)
	}
	return b
}

const hexdigits = "0123456789abcdef"

func appendHex(b []byte, w wwn.WWN) []byte {
	for _, v := range w {
		b = append(b, hexdigits[v>>4], hexdigits[v&0xf])
	}
	return b
}

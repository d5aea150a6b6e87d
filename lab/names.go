package lab

import (
	"strconv"
	"strings"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
)

// Ids. Hosts and VMs are zero-padded so that id order is creation order,
// which keeps every listing deterministic without sorting.

// A site's fabrics are lettered in pairs: pair 0 is a and b, pair 1 c and
// d, up to maxFabricPairs. f is a fabric's index within its site,
// fabricOf(pair, side).
const fabricLetters = "abcdefgh"

func fabricID(site string, f int) string { return site + "-" + fabricLetters[f:f+1] }
func cfgName(site string, f int) string  { return "cfg_" + site + "_" + fabricLetters[f:f+1] }

// fabricOf is the index within its site of side (0 or 1) of fabric pair k.
func fabricOf(k, side int) int { return 2*k + side }

// Every fabric a config allows has a letter.
const _ = uint(len(fabricLetters) - 2*maxFabricPairs)

func arrayID(site string, a int) string { return site + "-arr" + strconv.Itoa(a+1) }
func poolID(arrayID string, p int) string {
	return arrayID + "-pool" + strconv.Itoa(p+1)
}

// width is the number of digits n needs, at least least.
func width(n, least int) int { return max(len(strconv.Itoa(n)), least) }

// idSeq returns prefix+NNN+suffix for 1..n, zero-padded to w digits, as
// substrings of one allocation: a large world has hundreds of thousands of
// them and they never change.
func idSeq(prefix string, w, n int, suffix string) []string {
	l := len(prefix) + w + len(suffix)
	var b strings.Builder
	b.Grow(l * n)
	var num [20]byte
	for i := 1; i <= n; i++ {
		b.WriteString(prefix)
		d := strconv.AppendInt(num[:0], int64(i), 10)
		for range w - len(d) {
			b.WriteByte('0')
		}
		b.Write(d)
		b.WriteString(suffix)
	}
	all := b.String()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = all[i*l : (i+1)*l]
	}
	return ids
}

// Zone names are made by fabric.AppendSISTZoneName, the builder sanmob's
// Zoner uses, so that the core recognises the lab's zones as the ones it
// would have made. It truncates each id to fabric.LabelLen, which keeps every
// name within Brocade's 64 characters whatever the ids.

// sistZoneNameLen is the length of the SIST zone name of a VM id and an array
// id of those lengths (an empty id is written "x").
func sistZoneNameLen(vmIDLen, arrayIDLen int) int {
	label := func(n int) int { return max(min(n, fabric.LabelLen), 1) }
	return len(fabric.OwnedPrefix) + label(vmIDLen) + 1 + 16 + 1 + label(arrayIDLen) + 1 + 16
}

const hexdigits = "0123456789abcdef"

// appendWWN appends the canonical colon form without allocating.
func appendWWN(b []byte, w wwn.WWN) []byte {
	for i, v := range w {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hexdigits[v>>4], hexdigits[v&0xf])
	}
	return b
}

// The canonical serialization of a zone database, whose MD5 is the checksum
// and whose length is SizeBytes:
//
//	zone <name> <member>,<member>...[ principals <wwpn>,...]\n   one line per defined zone, by name
//	cfg <effective cfg name> <zone>,<zone>...\n                    the effective zones, by name
//
// WWNs are in canonical colon form (23 bytes each).
const wwnTextLen = 23

func listBytes(n int) int {
	if n == 0 {
		return 0
	}
	return n*wwnTextLen + n - 1
}

func zoneLineBytes(nameLen, members, principals int) int {
	n := len("zone ") + nameLen + 1 + listBytes(members) + 1
	if principals > 0 {
		n += len(" principals ") + listBytes(principals)
	}
	return n
}

func cfgLineBytes(cfgNameLen, sumZoneNameLens, zones int) int {
	return len("cfg ") + cfgNameLen + 1 + sumZoneNameLens + max(zones-1, 0) + 1
}

// Every fabric also carries zoning that is not sanmob's: a backup server
// zoned to the drives of a tape library, and a peer zone that lets it read
// snapshots from the first array. sanmob must leave these alone.
const tapeDrives = 2

type adminZone struct {
	name                string
	members, principals int
	drive               int // the tape drive zoned with the server; -1: the peer zone
}

var adminZones = []adminZone{
	{"backup_srv01_tape01_drv1", 2, 0, 0},
	{"backup_srv01_tape01_drv2", 2, 0, 1},
	{"backup_srv01_arr1_peer", 1, 1, -1},
}

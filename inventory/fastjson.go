package inventory

import (
	"strconv"
	"time"

	"github.com/sanmob/sanmob/fabric/wwn"
)

// Loading the large inventory at start is mostly decoding 100,000 VM and
// 200,000 volume records, and encoding/json's reflection was about 40 % of
// a cold start's CPU. The records are read here instead by a reader that
// accepts exactly the JSON encoding/json writes for them — known keys in
// their exact case, each once; strings without escapes or non-ASCII bytes;
// integers; RFC 3339 times — and gives up on anything else, which the
// caller then decodes with encoding/json. What it accepts it decodes as
// encoding/json would (FuzzFastDecode holds it to that).

// fastDecoder is a record type with a fast decoder; decodeFast reports
// false, having possibly filled part of the record, when it gives up.
type fastDecoder interface {
	decodeFast(raw []byte) bool
}

// jreader reads one JSON value from b. Every method reports false when the
// input is not what it accepts.
type jreader struct {
	b []byte
	i int
}

func (r *jreader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// next consumes c, after white space.
func (r *jreader) next(c byte) bool {
	r.ws()
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

// peek reports whether the next byte, after white space, is c.
func (r *jreader) peek(c byte) bool {
	r.ws()
	return r.i < len(r.b) && r.b[r.i] == c
}

// raw returns a string's bytes, without the quotes; only printable ASCII
// other than the quote and the backslash is accepted.
func (r *jreader) raw() ([]byte, bool) {
	if !r.next('"') {
		return nil, false
	}
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		if c == '"' {
			r.i++
			return r.b[start : r.i-1], true
		}
		if c < 0x20 || c >= 0x7f || c == '\\' {
			return nil, false
		}
		r.i++
	}
	return nil, false
}

func (r *jreader) str(s *string) bool {
	b, ok := r.raw()
	if ok {
		*s = string(b)
	}
	return ok
}

func (r *jreader) wwn(w *wwn.WWN) bool {
	b, ok := r.raw()
	return ok && w.UnmarshalText(b) == nil
}

func (r *jreader) time(t *time.Time) bool {
	b, ok := r.raw()
	return ok && t.UnmarshalText(b) == nil
}

func (r *jreader) boolean(v *bool) bool {
	r.ws()
	switch {
	case len(r.b)-r.i >= 4 && string(r.b[r.i:r.i+4]) == "true":
		*v, r.i = true, r.i+4
	case len(r.b)-r.i >= 5 && string(r.b[r.i:r.i+5]) == "false":
		*v, r.i = false, r.i+5
	default:
		return false
	}
	return r.end()
}

// int64 reads an integer in JSON's syntax (no leading zeros, no fraction or
// exponent) that fits.
func (r *jreader) int64(v *int64) bool {
	r.ws()
	start := r.i
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	digits := r.i
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
	}
	if n := r.i - digits; n == 0 || n > 1 && r.b[digits] == '0' || !r.end() {
		return false
	}
	n, err := strconv.ParseInt(string(r.b[start:r.i]), 10, 64)
	*v = n
	return err == nil
}

func (r *jreader) int(v *int) bool {
	var n int64
	ok := r.int64(&n)
	*v = int(n)
	return ok && int64(*v) == n
}

// end reports whether a literal ended where it should: a literal runs on
// into a letter or digit only in invalid JSON.
func (r *jreader) end() bool {
	if r.i == len(r.b) {
		return true
	}
	switch c := r.b[r.i]; {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-', c == '+':
		return false
	}
	return true
}

// object reads an object, calling field for each key with the reader at
// its value; keys are identified by their position in keys, and a key not
// in keys, or one given twice, makes it give up.
func (r *jreader) object(keys []string, field func(k int) bool) bool {
	if !r.next('{') {
		return false
	}
	if r.next('}') {
		return true
	}
	var seen uint64
	for {
		kb, ok := r.raw()
		if !ok || !r.next(':') {
			return false
		}
		k := -1
		for i, name := range keys {
			if string(kb) == name {
				k = i
				break
			}
		}
		if k < 0 || seen&(1<<k) != 0 || !field(k) {
			return false
		}
		seen |= 1 << k
		if r.next('}') {
			return true
		}
		if !r.next(',') {
			return false
		}
	}
}

// null consumes a null literal.
func (r *jreader) null() bool {
	r.ws()
	if len(r.b)-r.i >= 4 && string(r.b[r.i:r.i+4]) == "null" {
		r.i += 4
		return r.end()
	}
	return false
}

// array reads an array, calling elem for each element; empty reports an
// empty array (encoding/json leaves a non-nil empty slice for it). A null
// is read as no array at all: the record's slice stays nil, as with
// encoding/json.
func (r *jreader) array(elem func() bool) (empty, ok bool) {
	if r.peek('n') {
		return false, r.null()
	}
	if !r.next('[') {
		return false, false
	}
	if r.next(']') {
		return true, true
	}
	for {
		if !elem() {
			return false, false
		}
		if r.next(']') {
			return false, true
		}
		if !r.next(',') {
			return false, false
		}
	}
}

// objects reads an array of objects into *dst, each object's keys by
// field (as object calls it); an empty array leaves a non-nil empty slice
// and null a nil one, as with encoding/json.
func objects[T any](r *jreader, dst *[]T, keys []string, field func(e *T, k int) bool) bool {
	empty, ok := r.array(func() bool {
		var e T
		ok := r.object(keys, func(k int) bool { return field(&e, k) })
		*dst = append(*dst, e)
		return ok
	})
	if empty {
		*dst = []T{}
	}
	return ok
}

// done reports whether only white space is left.
func (r *jreader) done() bool {
	r.ws()
	return r.i == len(r.b)
}

var vmKeys = []string{"id", "name", "host", "site", "vports", "volumes", "shares", "createdAt", "updatedAt"}

var vportKeys = []string{"fabric", "wwpn", "wwnn", "set", "active", "hba", "loggedIn"}

var volumeRefKeys = []string{"id", "lun"}

func (v *VM) decodeFast(raw []byte) bool {
	r := &jreader{b: raw}
	ok := r.object(vmKeys, func(k int) bool {
		switch k {
		case 0:
			return r.str(&v.ID)
		case 1:
			return r.str(&v.Name)
		case 2:
			return r.str(&v.Host)
		case 3:
			return r.str(&v.Site)
		case 4:
			return objects(r, &v.Vports, vportKeys, func(p *Vport, k int) bool {
				switch k {
				case 0:
					return r.str(&p.Fabric)
				case 1:
					return r.wwn(&p.WWPN)
				case 2:
					return r.wwn(&p.WWNN)
				case 3:
					return r.str(&p.Set)
				case 4:
					return r.boolean(&p.Active)
				case 5:
					return r.wwn(&p.HBA)
				default:
					return r.boolean(&p.LoggedIn)
				}
			})
		case 5:
			return objects(r, &v.Volumes, volumeRefKeys, func(ref *VolumeRef, k int) bool {
				if k == 0 {
					return r.str(&ref.ID)
				}
				return r.int(&ref.LUN)
			})
		case 6:
			return r.int(&v.Shares)
		case 7:
			return r.time(&v.CreatedAt)
		default:
			return r.time(&v.UpdatedAt)
		}
	})
	return ok && r.done()
}

var volumeKeys = []string{"id", "name", "array", "pool", "sizeBytes", "usedBytes", "wwn", "thin", "missing", "multiNode", "fromSnapshot", "lun", "createdAt"}

func (v *Volume) decodeFast(raw []byte) bool {
	r := &jreader{b: raw}
	ok := r.object(volumeKeys, func(k int) bool {
		switch k {
		case 0:
			return r.str(&v.ID)
		case 1:
			return r.str(&v.Name)
		case 2:
			return r.str(&v.Array)
		case 3:
			return r.str(&v.Pool)
		case 4:
			return r.int64(&v.SizeBytes)
		case 5:
			return r.int64(&v.UsedBytes)
		case 6:
			return r.str(&v.WWN)
		case 7:
			return r.boolean(&v.Thin)
		case 8:
			return r.boolean(&v.Missing)
		case 9:
			return r.boolean(&v.MultiNode)
		case 10:
			return r.str(&v.FromSnapshot)
		case 11:
			if r.peek('n') {
				return false // null: left to encoding/json
			}
			lun := new(int)
			v.LUN = lun
			return r.int(lun)
		default:
			return r.time(&v.CreatedAt)
		}
	})
	return ok && r.done()
}

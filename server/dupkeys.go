package server

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// dupKeys refuses a JSON text in which an object has the same key twice,
// at any depth: encoding/json would take the last one silently, so that
// {"sizeBytes": 1, "sizeBytes": 1e15} reads as the second to the server and
// may read as the first to a proxy or an audit log in front of it. Keys are
// compared as decoded (escapes undone) and without regard to case, as
// encoding/json matches struct fields; no request body holds a map. The
// error names the key's path (hbas[1].wwpn).
//
// It is a lenient scan of the bytes rather than a walk with
// json.Decoder.Token, which costs some 40 ms and 650,000 allocations on a
// full telemetry batch; a text that is not JSON passes here, and the decoder
// after it says what is wrong with it.
func dupKeys(raw []byte) error {
	if bytes.IndexByte(raw, '{') < 0 {
		return nil // no object, no key
	}
	type frame struct {
		obj   bool
		start int // where its keys (an object's) begin in keys
		idx   int // arrays: the element being read
	}
	var stack []frame
	var keys [][]byte // the keys of the objects open, innermost last: objects are small, a scan beats a map
	expectKey := false
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '{':
			stack = append(stack, frame{obj: true, start: len(keys)})
			expectKey = true
		case '[':
			stack = append(stack, frame{start: len(keys)})
			expectKey = false
		case '}', ']':
			if len(stack) == 0 {
				return nil
			}
			if f := stack[len(stack)-1]; f.obj {
				keys = keys[:f.start]
			}
			stack = stack[:len(stack)-1]
			expectKey = false
		case ',':
			if len(stack) == 0 {
				return nil
			}
			if top := &stack[len(stack)-1]; top.obj {
				expectKey = true
			} else {
				top.idx++
			}
		case '"':
			j := i + 1
			for j < len(raw) && raw[j] != '"' {
				if raw[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(raw) {
				return nil // unterminated: not JSON
			}
			if expectKey && len(stack) > 0 {
				k := raw[i+1 : j]
				if bytes.IndexByte(k, '\\') >= 0 {
					var u string
					if json.Unmarshal(raw[i:j+1], &u) != nil {
						return nil
					}
					k = []byte(u)
				}
				top := stack[len(stack)-1]
				for _, seen := range keys[top.start:] {
					if bytes.EqualFold(seen, k) {
						var b strings.Builder
						for n, f := range stack[:len(stack)-1] {
							if f.obj {
								if b.Len() > 0 {
									b.WriteByte('.')
								}
								b.Write(keys[stack[n+1].start-1]) // the key the next frame is the value of
							} else {
								b.WriteString("[" + strconv.Itoa(f.idx) + "]")
							}
						}
						if b.Len() > 0 {
							b.WriteByte('.')
						}
						b.Write(k)
						return &FieldErr{Field: clip(b.String()), Reason: "duplicate key: a key may appear once in an object"}
					}
				}
				keys = append(keys, k)
				expectKey = false
			}
			i = j
		}
	}
	return nil
}

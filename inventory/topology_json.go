package inventory

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/sanmob/sanmob/fabric/wwn"
)

// AppendJSON appends t as JSON, exactly as encoding/json would write it
// (TestTopologyAppendJSONMatchesEncodingJSON holds it to that). The topology
// query is the API's hottest read, and reflection over its paths was most of
// its cost; the rarer parts (volumes, issues) still go through encoding/json.
func (t Topology) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"vm":`...)
	b = appendJSONString(b, t.VM)
	b = append(b, `,"host":`...)
	b = appendJSONString(b, t.Host)
	b = append(b, `,"site":`...)
	b = appendJSONString(b, t.Site)
	b = append(b, `,"paths":[`...)
	for i, p := range t.Paths {
		if i > 0 {
			b = append(b, ',')
		}
		b = p.appendJSON(b)
	}
	b = append(b, `],"volumes":[`...)
	var err error
	for i, v := range t.Volumes {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = v.appendJSON(b); err != nil {
			return nil, err
		}
	}
	b = append(b, `],"issues":`...)
	if b, err = appendMarshal(b, t.Issues); err != nil {
		return nil, err
	}
	b = append(b, `,"source":`...)
	b = appendJSONString(b, t.Source)
	b = append(b, `,"observedAt":`...)
	if b, err = appendMarshal(b, t.ObservedAt); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

func (p Path) appendJSON(b []byte) []byte {
	b = append(b, `{"fabric":`...)
	b = appendJSONString(b, p.Fabric)
	b = append(b, `,"set":`...)
	b = appendJSONString(b, p.Set)
	b = append(b, `,"active":`...)
	b = strconv.AppendBool(b, p.Active)
	b = append(b, `,"loggedIn":`...)
	b = strconv.AppendBool(b, p.LoggedIn)
	b = append(b, `,"vportWWPN":`...)
	b = appendWWN(b, p.VportWWPN)
	if !p.HBAWWPN.IsZero() {
		b = append(b, `,"hbaWWPN":`...)
		b = appendWWN(b, p.HBAWWPN)
	}
	b = append(b, `,"zone":`...)
	b = appendJSONString(b, p.Zone)
	b = append(b, `,"targetPortWWPN":`...)
	b = appendWWN(b, p.TargetPortWWPN)
	b = append(b, `,"array":`...)
	b = appendJSONString(b, p.Array)
	b = append(b, `,"volume":`...)
	b = appendJSONString(b, p.Volume)
	b = append(b, `,"lun":`...)
	b = strconv.AppendInt(b, int64(p.LUN), 10)
	return append(b, '}')
}

func (v TopologyVolume) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, v.ID)
	b = append(b, `,"array":`...)
	b = appendJSONString(b, v.Array)
	b = append(b, `,"pool":`...)
	b = appendJSONString(b, v.Pool)
	b = append(b, `,"lun":`...)
	b = strconv.AppendInt(b, int64(v.LUN), 10)
	b = append(b, `,"wwn":`...)
	b = appendJSONString(b, v.WWN)
	b = append(b, `,"sizeBytes":`...)
	b = strconv.AppendInt(b, v.SizeBytes, 10)
	b = append(b, `,"usedBytes":`...)
	b = strconv.AppendInt(b, v.UsedBytes, 10)
	b = append(b, `,"snapshots":[`...)
	for i, sn := range v.Snapshots {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendJSONString(b, sn.ID)
		b = append(b, `,"volume":`...)
		b = appendJSONString(b, sn.Volume)
		b = append(b, `,"name":`...)
		b = appendJSONString(b, sn.Name)
		if sn.Group != "" {
			b = append(b, `,"group":`...)
			b = appendJSONString(b, sn.Group)
		}
		b = append(b, `,"usedBytes":`...)
		b = strconv.AppendInt(b, sn.UsedBytes, 10)
		b = append(b, `,"array":`...)
		b = appendJSONString(b, sn.Array)
		b = append(b, `,"createdAt":`...)
		b, _ = appendMarshal(b, sn.CreatedAt)
		b = append(b, '}')
	}
	b = append(b, ']')
	if v.Replica != nil {
		b = append(b, `,"replica":`...)
		var err error
		if b, err = appendMarshal(b, v.Replica); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

const hexdigits = "0123456789abcdef"

func appendWWN(b []byte, w wwn.WWN) []byte {
	b = append(b, '"')
	for i, v := range w {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hexdigits[v>>4], hexdigits[v&0xf])
	}
	return append(b, '"')
}

// appendJSONString writes s directly when it needs no escaping (ids and
// zone names always), and through encoding/json otherwise.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if jsonSpecial[s[i]] {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendMarshal(b []byte, v any) ([]byte, error) {
	if t, ok := v.(time.Time); ok {
		return append(t.AppendFormat(append(b, '"'), time.RFC3339Nano), '"'), nil
	}
	q, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, q...), nil
}

// jsonSpecial marks the bytes encoding/json would escape (control
// characters, quote, backslash, <, > and &) or that start a multi-byte
// sequence; one table load a byte is what the topology's strings cost.
var jsonSpecial = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&'
	}
	return t
}()

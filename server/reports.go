package server

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sanmob/sanmob/mobility"
)

// DarkStorage is GET /v1/reports/dark-storage: a page of the dark volumes
// (sorted by volume, then array) and the totals of all of them, not only
// of the page.
type DarkStorage struct {
	Items        []mobility.DarkVolume `json:"items"`
	Continue     string                `json:"continue,omitempty"`
	Totals       mobility.DarkTotals   `json:"totals"`
	UnreadArrays []string              `json:"unreadArrays,omitempty"`
	ObservedAt   time.Time             `json:"observedAt"`
}

func (s *Server) darkStorage(w http.ResponseWriter, r *http.Request) {
	rep, err := s.mob.DarkStorage()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	l, ok := page(w, r, rep.Items, func(d mobility.DarkVolume) string { return d.Volume + "\x00" + d.Array })
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, DarkStorage{Items: l.Items, Continue: l.Continue, Totals: rep.Totals,
		UnreadArrays: rep.Unread, ObservedAt: rep.ObservedAt})
}

// strictQuery refuses, 400, a query string Go's parser would quietly
// shorten — a ';' or a malformed escape drops pairs, and a filter, limit or
// verify=true with them —, a parameter given twice (which one would
// count?), and a parameter the route does not take, so that a misspelt
// filter is an error rather than ignored. The query is parsed once for all
// three. True when it is clean.
func strictQuery(w http.ResponseWriter, r *http.Request, allowed []queryParam) bool {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeProblem(w, r, newProblem(http.StatusBadRequest, "the query string cannot be read whole ("+clip(err.Error())+"); separate parameters with & and escape ; % and + in values"))
		return false
	}
	var bad []string
	for _, name := range slices.Sorted(maps.Keys(q)) {
		if len(q[name]) > 1 {
			writeProblem(w, r, withParam(newProblem(http.StatusBadRequest, "query parameter "+clip(name)+" is given "+strconv.Itoa(len(q[name]))+" times; give it once"), clip(name), "given more than once"))
			return false
		}
		if !slices.ContainsFunc(allowed, func(p queryParam) bool { return p.name == name }) {
			bad = append(bad, name)
		}
	}
	if len(bad) == 0 {
		return true
	}
	names := make([]string, len(allowed))
	for i, p := range allowed {
		names[i] = p.name
	}
	takes := "this route takes no query parameter"
	if len(names) > 0 {
		takes = "this route takes " + strings.Join(names, ", ")
	}
	p := newProblem(http.StatusBadRequest, "unknown query parameter "+bad[0]+"; "+takes)
	for _, b := range bad {
		p = withParam(p, b, "unknown parameter")
	}
	writeProblem(w, r, p)
	return false
}

// hasBody reports whether the request carries a body of at least one byte
// (a chunked body is peeked at, and what was read put back).
func hasBody(r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody {
		return false
	}
	if r.ContentLength > 0 {
		return true
	}
	if r.ContentLength == 0 {
		return false
	}
	var b [1]byte
	n, _ := io.ReadFull(r.Body, b[:])
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b[:n]), r.Body), r.Body}
	return n > 0
}

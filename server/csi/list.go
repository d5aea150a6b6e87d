package csi

import (
	"encoding/base64"
	"slices"
	"sort"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Token kinds: a volume token is no snapshot token.
const (
	tokenVolumes   = "volumes"
	tokenSnapshots = "snapshots"
)

// A page token names the id the next page starts at, not an offset: a
// volume created or deleted between pages shifts no entry into or out of
// the next one twice. It is opaque to the CO and marked with its kind, so
// that a token this server did not make is ABORTED as CSI asks.
func encodeToken(kind, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + "\x00" + id))
}

func decodeToken(kind, tok string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	id, ok := strings.CutPrefix(string(raw), kind+"\x00")
	if err != nil || !ok || id == "" {
		return "", status.Errorf(codes.Aborted, "starting_token %q is not valid; list again from the start", tok)
	}
	return id, nil
}

// paginate returns the page of items (in id order) that starts at token
// and holds at most max entries (0: all), and the token of the next page.
func paginate[T any](kind string, items []T, id func(T) string, token string, max int32) ([]T, string, error) {
	if max < 0 {
		return nil, "", status.Errorf(codes.InvalidArgument, "max_entries %d must not be negative", max)
	}
	// The core lists in id order already; sorting again keeps the page
	// boundaries right should that ever change.
	slices.SortStableFunc(items, func(a, b T) int { return strings.Compare(id(a), id(b)) })
	start := 0
	if token != "" {
		from, err := decodeToken(kind, token)
		if err != nil {
			return nil, "", err
		}
		start = sort.Search(len(items), func(i int) bool { return id(items[i]) >= from })
	}
	items = items[start:]
	if max == 0 || int(max) >= len(items) {
		return items, "", nil
	}
	return items[:max], encodeToken(kind, id(items[max])), nil
}

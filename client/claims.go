package client

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ClaimSpec asks that every initiator reach every target it shares a
// fabric with. Policy is "sist" (one zone per initiator and target) or
// "peer" (peer zones); empty leaves it to each fabric's configured policy.
type ClaimSpec struct {
	Initiators []string `json:"initiators"`
	Targets    []string `json:"targets"`
	Policy     string   `json:"policy,omitempty"`
}

// Claim is a zoning claim as sanmob holds it: what was asked (WWPNs in
// canonical form, sorted), the fabrics and zones that serve it, and the
// sides that reach nothing.
type Claim struct {
	Owner      string      `json:"owner"`
	Key        string      `json:"key"`
	Initiators []string    `json:"initiators"`
	Targets    []string    `json:"targets"`
	Policy     string      `json:"policy,omitempty"`
	Fabrics    []string    `json:"fabrics"`
	Zones      []ClaimZone `json:"zones"`
	Unreached  []Unreached `json:"unreached"`
	// State is ready, pending (a change runs), failed (a change failed
	// and its undo could not finish) or degraded (a zone of it is gone
	// from a switch; PutClaim again puts it back); LastError says why.
	State     string    `json:"state"`
	LastError string    `json:"lastError,omitempty"`
	Operation string    `json:"operation,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// ClaimZone is one zone a claim holds.
type ClaimZone struct {
	Fabric  string   `json:"fabric"`
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// Unreached is an initiator or target of a claim that shares no fabric
// with the other side; Role is "initiator" or "target".
type Unreached struct {
	WWPN   string `json:"wwpn"`
	Role   string `json:"role"`
	Reason string `json:"reason"`
}

// claimPath is the path of a claim: the owner and each segment of the key
// escaped on its own, the key's slashes kept ("volume/node" stays two
// segments). What a path cannot carry as it is — an empty owner, key or
// segment, a "." or ".." segment (the daemon's router would clean it into
// another claim's path), a "/" in the owner (the router matches the
// unescaped path, so it would split the owner) — is refused with
// ErrInvalid before anything is sent; the daemon checks the rest
// (lengths, characters).
func claimPath(owner, key string) (string, error) {
	if owner == "" || owner == "." || owner == ".." || strings.Contains(owner, "/") {
		return "", fmt.Errorf("claim owner %q: want a CSI driver name: %w", owner, ErrInvalid)
	}
	if key == "" {
		return "", fmt.Errorf("claim key: empty: %w", ErrInvalid)
	}
	segs := strings.Split(key, "/")
	for i, s := range segs {
		switch s {
		case "":
			return "", fmt.Errorf("claim key %q: an empty segment: %w", key, ErrInvalid)
		case ".", "..":
			return "", fmt.Errorf("claim key %q: a %q segment: %w", key, s, ErrInvalid)
		}
		segs[i] = seg(s)
	}
	return "/zoning/claims/" + seg(owner) + "/" + strings.Join(segs, "/"), nil
}

// PutClaim creates or replaces the claim (owner, key) and returns once
// every fabric it needs has committed its zones. Repeating it with the same
// spec is a no-op, so it is retried like a read (503, 429, network errors).
// A WWPN logged in on no fabric is a 422 (IsUnprocessable); initiators and
// targets that share no fabric, or a Policy a fabric is not configured
// for, are a 409 (IsConflict). Both are ClassRefused: the same spec fails
// until the cabling or zoning changes.
func (c *Client) PutClaim(ctx context.Context, owner, key string, spec ClaimSpec) (*Claim, error) {
	path, err := claimPath(owner, key)
	if err != nil {
		return nil, err
	}
	if spec.Initiators == nil {
		spec.Initiators = []string{}
	}
	if spec.Targets == nil {
		spec.Targets = []string{}
	}
	var cl Claim
	if err := c.do(ctx, request{method: http.MethodPut, path: path, body: spec}, &cl); err != nil {
		return nil, err
	}
	return &cl, nil
}

// GetClaim returns one claim; IsNotFound when there is none.
func (c *Client) GetClaim(ctx context.Context, owner, key string) (*Claim, error) {
	path, err := claimPath(owner, key)
	if err != nil {
		return nil, err
	}
	var cl Claim
	if err := c.do(ctx, get(path, nil), &cl); err != nil {
		return nil, err
	}
	return &cl, nil
}

// ListClaims returns the claims (of one owner when owner is not empty), by
// owner and key.
func (c *Client) ListClaims(ctx context.Context, owner string) ([]Claim, error) {
	return list[Claim](ctx, c, "/zoning/claims", filter("owner", owner))
}

// DeleteClaim releases the claim: a zone goes when no other claim or
// attachment needs it. Deleting a claim that does not exist succeeds, so
// it is retried like a read.
func (c *Client) DeleteClaim(ctx context.Context, owner, key string) error {
	path, err := claimPath(owner, key)
	if err != nil {
		return err
	}
	return c.do(ctx, request{method: http.MethodDelete, path: path}, nil)
}

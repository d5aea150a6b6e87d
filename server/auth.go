package server

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// Role is what a token may do.
type Role string

// The roles of API.md. Every role may read; writes need the role a route names.
const (
	RoleAdmin    Role = "admin"    // everything
	RoleOperator Role = "operator" // migrations, evacuations, snapshots
	RoleCSI      Role = "csi"      // attachments, volumes
	RoleViewer   Role = "viewer"   // read-only, alerts
)

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAdmin, RoleOperator, RoleCSI, RoleViewer:
		return r, nil
	}
	return "", fmt.Errorf("%w: unknown role %q (admin, operator, csi, viewer)", ErrInvalid, s)
}

// Token is a configured bearer token: only its SHA-256 is ever kept.
type Token struct {
	Name string
	Role Role
	Hash [sha256.Size]byte
}

// HashToken returns the hex SHA-256 of a token, the form configs and the
// store keep.
func HashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// ParseTokenHash reads a hex SHA-256.
func ParseTokenHash(s string) ([sha256.Size]byte, error) {
	var h [sha256.Size]byte
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(s), "sha256:"))
	if err != nil || len(b) != sha256.Size {
		return h, fmt.Errorf("%w: token hash must be 64 hex digits (sha256)", ErrInvalid)
	}
	copy(h[:], b)
	return h, nil
}

// GenerateToken makes a random token with 256 bits of entropy.
func GenerateToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "smt_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Principal is the authenticated caller.
type Principal struct {
	Name string
	Role Role
}

// authenticate finds the token's principal. Every configured hash is compared
// in constant time, and all of them are always compared, so the time taken
// says nothing about which token came close.
func (s *Server) authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Principal{}, errNoToken
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return Principal{}, errBadScheme
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	found := -1
	for i := range s.tokens {
		if subtle.ConstantTimeCompare(sum[:], s.tokens[i].Hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Principal{}, errBadToken
	}
	return Principal{Name: s.tokens[found].Name, Role: s.tokens[found].Role}, nil
}

var (
	errNoToken   = fmt.Errorf("missing bearer token (Authorization: Bearer <token>)")
	errBadScheme = fmt.Errorf("the Authorization header must be 'Bearer <token>'")
	errBadToken  = fmt.Errorf("invalid token")
)

// allowed says whether role may call a route that needs one of roles; an
// empty list means any authenticated caller (reads).
func allowed(role Role, roles []Role) bool {
	if role == RoleAdmin || len(roles) == 0 {
		return true
	}
	for _, r := range roles {
		if r == role {
			return true
		}
	}
	return false
}

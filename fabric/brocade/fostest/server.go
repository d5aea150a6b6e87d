package fostest

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/sanmob/sanmob/fabric/wwn"
)

// Options configure a Server; zero fields take the defaults named.
type Options struct {
	Users map[string]string // user → password; default admin/password
	// VFID is the FID of the one logical switch emulated; 0 (the default)
	// is a switch without Virtual Fabrics, which refuses a vf-id parameter.
	VFID       int
	DBMax      int    // zone DB size limit in bytes; default 1 MiB (FOS >= 5.2)
	SwitchName string // default "fostest"
	Firmware   string // default "v9.1.0b"
	DomainID   int    // default 1
}

// Device is one name-server entry.
type Device struct {
	WWPN, WWNN wwn.WWN
	Physical   wwn.WWN // for an NPIV login, the N_Port that carries it; zero for a physical one
	PortID     uint32  // 24-bit FC address
	PortIndex  int
	Target     bool
}

// Error is a RESTCONF refusal: the HTTP status and the one error its
// envelope carries.
type Error struct {
	Status  int
	Tag     string // RESTCONF error-tag
	Message string
	Path    string // error-path; may be empty
}

func (e *Error) Error() string { return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Tag, e.Message) }

// Server is an emulated FOS switch. Its methods are safe for concurrent use.
type Server struct {
	opts      Options
	srv       *httptest.Server
	stop      chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	sessions map[string]string // session token → user
	db       DB                // committed
	enabled  []zoneJSON        // the effective configuration as last enabled
	sum      string
	txn      *txn
	tokens   uint32 // the last transaction token handed out
	busy     int
	lock     string
	hang     bool
	hook     func(method, resource string) *Error
	devices  []Device
	requests []string
}

// txn is a zoning transaction: the pending defined configuration of the
// session that opened it with its first edit. It holds the fabric lock.
type txn struct {
	session, user string
	token         uint32
	db            DB
}

const mediaType = "application/yang-data+json"

// New starts a switch with an empty zone DB. Close it.
func New(opts Options) *Server {
	if len(opts.Users) == 0 {
		opts.Users = map[string]string{"admin": "password"}
	}
	if opts.DBMax == 0 {
		opts.DBMax = 1 << 20
	}
	if opts.SwitchName == "" {
		opts.SwitchName = "fostest"
	}
	if opts.Firmware == "" {
		opts.Firmware = "v9.1.0b"
	}
	if opts.DomainID == 0 {
		opts.DomainID = 1
	}
	s := &Server{opts: opts, stop: make(chan struct{}), sessions: map[string]string{}, db: newDB()}
	s.sum = checksum(s.db, nil)
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	// Clients that distrust the certificate are what some tests are about;
	// their handshake errors are not news.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.StartTLS()
	return s
}

// URL is the switch's base URL, https://127.0.0.1:port.
func (s *Server) URL() string { return s.srv.URL }

// CA is the PEM of the certificate the switch presents, which is its own CA.
func (s *Server) CA() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// CertPool trusts the switch's certificate.
func (s *Server) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.srv.Certificate())
	return p
}

// Close releases a hung enable and shuts the server down.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.stop) })
	s.srv.Close()
}

// Busy makes the next n requests, logins included, answer 503.
func (s *Server) Busy(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.busy = n
}

// Lock makes another client, owner, hold the fabric lock: every session's
// edits, saves and enables are refused until Lock("").
func (s *Server) Lock(owner string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lock = owner
}

// HangNextEnable makes the next enable take effect and then never answer:
// the reply is lost, as when a connection drops after the switch committed.
// The handler returns once the client gives up or the server closes.
func (s *Server) HangNextEnable() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang = true
}

// OnRequest calls fn before each authenticated /rest/running request, with
// the method and the resource path after /rest/running/; a non-nil Error is
// the reply instead. fn runs without the server's lock, so it may call
// AdminEdit and the other knobs. nil removes it.
func (s *Server) OnRequest(fn func(method, resource string) *Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = fn
}

// ExpireSessions ends every session, as a switch does when their time to
// live runs out; open transactions stay, as the fabric lock outlives them.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.sessions)
}

// SetDevices replaces the name server's entries.
func (s *Server) SetDevices(ds []Device) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.devices = slices.Clone(ds)
}

// AdminEdit lets another administrator change the zone DB and commit it at
// once: fn edits a copy of the committed DB, which must pass the rules a
// REST client's edits do; db.Effective is then enabled ("" disables zoning)
// and the checksum changes. It fails while a transaction is open, which
// holds the fabric lock against everyone else.
func (s *Server) AdminEdit(fn func(db *DB)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.txn != nil {
		return fmt.Errorf("fostest: %s holds the zoning transaction", s.txn.user)
	}
	db := s.db.clone()
	fn(&db)
	if e := db.validate(); e != nil {
		return e
	}
	if n := db.size(); n > s.opts.DBMax {
		return fmt.Errorf("fostest: zone DB size %d bytes exceeds the maximum of %d bytes", n, s.opts.DBMax)
	}
	var enabled []zoneJSON
	if db.Effective != "" {
		enabled = db.enable(db.Effective)
	}
	s.commit(db, enabled)
	return nil
}

// Committed returns a copy of the committed zone DB.
func (s *Server) Committed() DB {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.clone()
}

// Checksum returns the committed zone DB's checksum.
func (s *Server) Checksum() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sum
}

// Transaction reports whether a zoning transaction is open, and whose.
func (s *Server) Transaction() (user string, open bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.txn == nil {
		return "", false
	}
	return s.txn.user, true
}

// Requests returns every request received so far as "METHOD /path?query".
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func (s *Server) commit(db DB, enabled []zoneJSON) {
	s.db, s.enabled, s.txn = db, enabled, nil
	s.sum = checksum(db, enabled)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
	busy := s.busy > 0
	if busy {
		s.busy--
	}
	hook := s.hook
	s.mu.Unlock()
	if busy {
		writeError(w, &Error{Status: http.StatusServiceUnavailable, Tag: "operation-failed", Message: "The switch is busy; retry later"})
		return
	}
	switch r.URL.Path {
	case "/rest/login":
		s.login(w, r)
		return
	case "/rest/logout":
		s.logout(w, r)
		return
	}
	session, ok := s.session(r)
	if !ok {
		writeError(w, &Error{Status: http.StatusUnauthorized, Tag: "access-denied", Message: "Invalid or expired session"})
		return
	}
	resource, ok := strings.CutPrefix(r.URL.Path, "/rest/running/")
	if !ok {
		writeError(w, &Error{Status: http.StatusNotFound, Tag: "invalid-value", Message: "No such resource", Path: r.URL.Path})
		return
	}
	if !strings.Contains(r.Header.Get("Accept"), mediaType) {
		writeError(w, &Error{Status: http.StatusNotAcceptable, Tag: "invalid-value", Message: "The emulator answers " + mediaType + " only"})
		return
	}
	if e := s.checkVF(r); e != nil {
		writeError(w, e)
		return
	}
	if hook != nil {
		if e := hook(r.Method, resource); e != nil {
			writeError(w, e)
			return
		}
	}
	switch r.Method + " " + resource {
	case "GET brocade-zone/defined-configuration":
		s.getDefined(w, session)
	case "POST brocade-zone/defined-configuration", "DELETE brocade-zone/defined-configuration":
		s.editDefined(w, r, session)
	case "GET brocade-zone/effective-configuration":
		s.getEffective(w, false)
	case "GET brocade-zone/effective-configuration/checksum":
		s.getEffective(w, true)
	case "PATCH brocade-zone/effective-configuration":
		s.patchEffective(w, r, session)
	case "GET brocade-name-server/fibrechannel-name-server":
		s.getNameServer(w)
	case "GET brocade-fibrechannel-switch/fibrechannel-switch":
		s.getSwitch(w)
	default:
		writeError(w, &Error{Status: http.StatusNotFound, Tag: "invalid-value", Message: r.Method + " " + resource + " is not emulated", Path: r.URL.Path})
	}
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	want, known := s.opts.Users[user]
	if r.Method != http.MethodPost || !ok || !known || pass != want {
		writeError(w, &Error{Status: http.StatusUnauthorized, Tag: "access-denied", Message: "Authentication failed"})
		return
	}
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	s.mu.Lock()
	s.sessions[token] = user
	s.mu.Unlock()
	w.Header().Set("Authorization", "Custom_Basic "+token)
	w.WriteHeader(http.StatusOK)
}

// logout ends the session and discards its transaction: the emulator's
// choice, so that a client that logs out never leaves the fabric locked.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	session, ok := s.session(r)
	if !ok {
		writeError(w, &Error{Status: http.StatusUnauthorized, Tag: "access-denied", Message: "Invalid or expired session"})
		return
	}
	s.mu.Lock()
	delete(s.sessions, session)
	if s.txn != nil && s.txn.session == session {
		s.txn = nil
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) session(r *http.Request) (string, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Custom_Basic ")
	if !ok {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok = s.sessions[token]
	return token, ok
}

// checkVF resolves vf-id: requests without it address the default logical
// switch, FID 128, which is emulated only when it is Options.VFID.
func (s *Server) checkVF(r *http.Request) *Error {
	q := r.URL.Query()
	vf, given := q.Get("vf-id"), q.Has("vf-id")
	switch {
	case !given && (s.opts.VFID == 0 || s.opts.VFID == 128):
		return nil
	case !given:
		return &Error{Status: http.StatusBadRequest, Tag: "invalid-value",
			Message: fmt.Sprintf("the request addresses the default logical switch (FID 128); the emulator has FID %d only", s.opts.VFID)}
	case s.opts.VFID == 0:
		return &Error{Status: http.StatusBadRequest, Tag: "invalid-value", Message: "Virtual Fabrics are not enabled on this switch"}
	case vf != strconv.Itoa(s.opts.VFID):
		return &Error{Status: http.StatusBadRequest, Tag: "invalid-value", Message: fmt.Sprintf("no logical switch with FID %q", vf)}
	}
	return nil
}

// lockedOut refuses session's zoning writes while another client holds the
// fabric lock. Call with s.mu held.
func (s *Server) lockedOut(session string) *Error {
	switch {
	case s.lock != "":
		return &Error{Status: http.StatusConflict, Tag: "lock-denied",
			Message: fmt.Sprintf("The zone fabric lock is held by %s; retry when its transaction ends", s.lock)}
	case s.txn != nil && s.txn.session != session:
		return &Error{Status: http.StatusConflict, Tag: "lock-denied",
			Message: fmt.Sprintf("Zone transaction %d of %s is in progress; the fabric lock is held", s.txn.token, s.txn.user)}
	}
	return nil
}

// getDefined shows a session its own pending edits and everyone else the
// committed configuration.
func (s *Server) getDefined(w http.ResponseWriter, session string) {
	s.mu.Lock()
	db := s.db
	if s.txn != nil && s.txn.session == session {
		db = s.txn.db
	}
	d := db.defined()
	s.mu.Unlock()
	writeJSON(w, map[string]any{"defined-configuration": d})
}

func (s *Server) editDefined(w http.ResponseWriter, r *http.Request, session string) {
	var body struct {
		Defined *definedJSON `json:"defined-configuration"`
	}
	if e := decodeStrict(r, &body); e != nil {
		writeError(w, e)
		return
	}
	if body.Defined == nil {
		writeError(w, &Error{Status: http.StatusBadRequest, Tag: "missing-element", Message: "defined-configuration is required"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.lockedOut(session); e != nil {
		writeError(w, e)
		return
	}
	// Each request applies to a copy, so that a refused one changes nothing.
	var db DB
	if s.txn != nil {
		db = s.txn.db.clone()
	} else {
		db = s.db.clone()
	}
	var e *Error
	status := http.StatusCreated
	if r.Method == http.MethodPost {
		e = db.create(*body.Defined)
	} else {
		e, status = db.remove(*body.Defined), http.StatusNoContent
	}
	if e != nil {
		writeError(w, e)
		return
	}
	if s.txn == nil {
		s.tokens++
		s.txn = &txn{session: session, user: s.sessions[session], token: s.tokens}
	}
	s.txn.db = db
	w.WriteHeader(status)
}

func (s *Server) getEffective(w http.ResponseWriter, checksumOnly bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if checksumOnly {
		writeJSON(w, map[string]any{"effective-configuration": map[string]string{"checksum": s.sum}})
		return
	}
	type effective struct {
		CfgName                string     `json:"cfg-name,omitempty"`
		Checksum               string     `json:"checksum"`
		DefaultZoneAccess      int        `json:"default-zone-access"`
		DBMax                  int        `json:"db-max"`
		DBAvail                int        `json:"db-avail"`
		DBCommitted            int        `json:"db-committed"`
		DBTransaction          int        `json:"db-transaction"`
		TransactionToken       uint32     `json:"transaction-token"`
		DBChassisWideCommitted int        `json:"db-chassis-wide-committed"`
		Enabled                []zoneJSON `json:"enabled-zone,omitempty"`
	}
	size := s.db.size()
	e := effective{CfgName: s.db.Effective, Checksum: s.sum, DBMax: s.opts.DBMax, DBAvail: max(s.opts.DBMax-size, 0),
		DBCommitted: size, DBChassisWideCommitted: size, Enabled: s.enabled}
	if s.txn != nil {
		e.DBTransaction, e.TransactionToken = s.txn.db.size(), s.txn.token
	}
	writeJSON(w, map[string]any{"effective-configuration": e})
}

// patchEffective enables (cfg-name), saves (cfg-action 1) or aborts
// (cfg-action 4). Enabling saves the session's pending edits too, as
// cfgenable does, in one step that succeeds or fails whole.
func (s *Server) patchEffective(w http.ResponseWriter, r *http.Request, session string) {
	var body struct {
		Effective *struct {
			CfgName   *string `json:"cfg-name"`
			Checksum  *string `json:"checksum"`
			CfgAction *int    `json:"cfg-action"`
		} `json:"effective-configuration"`
	}
	if e := decodeStrict(r, &body); e != nil {
		writeError(w, e)
		return
	}
	p := body.Effective
	if p == nil {
		writeError(w, &Error{Status: http.StatusBadRequest, Tag: "missing-element", Message: "effective-configuration is required"})
		return
	}
	action := 0
	if p.CfgAction != nil {
		action = *p.CfgAction
	}
	switch {
	case action == 4:
		s.mu.Lock()
		if s.txn != nil && s.txn.session == session {
			s.txn = nil
		}
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	case action == 0 && p.CfgName == nil:
		writeError(w, &Error{Status: http.StatusBadRequest, Tag: "missing-element", Message: "cfg-name or cfg-action is required"})
		return
	case action != 0 && action != 1:
		writeError(w, &Error{Status: http.StatusBadRequest, Tag: "operation-not-supported",
			Message: fmt.Sprintf("cfg-action %d is not emulated", action), Path: "/brocade-zone/effective-configuration/cfg-action"})
		return
	case p.Checksum == nil:
		writeError(w, &Error{Status: http.StatusBadRequest, Tag: "missing-element",
			Message: "checksum is required to save or enable", Path: "/brocade-zone/effective-configuration/checksum"})
		return
	}
	s.mu.Lock()
	hang, e := s.saveOrEnable(session, p.CfgName, *p.Checksum)
	s.mu.Unlock()
	switch {
	case e != nil:
		writeError(w, e)
	case hang:
		select {
		case <-r.Context().Done():
		case <-s.stop:
		}
		// Never let net/http turn the silent return into a 200: the
		// client must see no reply at all, as from a switch that hung.
		panic(http.ErrAbortHandler)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// saveOrEnable commits session's pending edits, enabling cfg when it is
// given. Call with s.mu held.
func (s *Server) saveOrEnable(session string, cfg *string, sum string) (hang bool, _ *Error) {
	if e := s.lockedOut(session); e != nil {
		return false, e
	}
	if sum != s.sum {
		return false, invalid("/brocade-zone/effective-configuration/checksum",
			"Checksum mismatch: the zone database changed since its checksum %s was read", sum)
	}
	db := s.db
	if s.txn != nil {
		db = s.txn.db
	}
	db = db.clone()
	if n := db.size(); n > s.opts.DBMax {
		return false, &Error{Status: http.StatusConflict, Tag: "resource-denied",
			Message: fmt.Sprintf("Zone DB size %d bytes exceeds the maximum of %d bytes", n, s.opts.DBMax)}
	}
	enabled := s.enabled
	if cfg != nil {
		if e := checkName(cfgPath(*cfg), *cfg); e != nil {
			return false, e
		}
		if _, ok := db.Cfgs[*cfg]; !ok {
			return false, invalid("/brocade-zone/effective-configuration/cfg-name", "cfg %s is not defined", *cfg)
		}
		db.Effective, enabled = *cfg, db.enable(*cfg)
		hang, s.hang = s.hang, false
	}
	s.commit(db, enabled)
	return hang, nil
}

func (s *Server) getNameServer(w http.ResponseWriter) {
	type entry struct {
		PortID            string `json:"port-id"`
		PortName          string `json:"port-name"`
		NodeName          string `json:"node-name"`
		PermanentPortName string `json:"permanent-port-name"`
		FC4Type           string `json:"fc4-type"`
		FC4Features       string `json:"fc4-features"`
		PortType          string `json:"port-type"`
		DeviceType        string `json:"name-server-device-type"`
		PortIndex         int    `json:"port-index"`
	}
	s.mu.Lock()
	out := make([]entry, 0, len(s.devices))
	for _, d := range s.devices {
		e := entry{PortID: fmt.Sprintf("0x%06x", d.PortID&0xffffff), PortName: d.WWPN.String(), NodeName: d.WWNN.String(),
			PermanentPortName: d.WWPN.String(), FC4Type: "FCP", FC4Features: "FCP-Initiator", PortType: "n-port",
			DeviceType: "Physical Initiator", PortIndex: d.PortIndex}
		if d.Target {
			e.FC4Features, e.DeviceType = "FCP-Target", "Physical Target"
		}
		if !d.Physical.IsZero() {
			e.PermanentPortName = d.Physical.String()
			e.DeviceType = "NPIV" + strings.TrimPrefix(e.DeviceType, "Physical")
		}
		out = append(out, e)
	}
	s.mu.Unlock()
	writeJSON(w, map[string]any{"fibrechannel-name-server": out})
}

func (s *Server) getSwitch(w http.ResponseWriter) {
	type sw struct {
		Name             string `json:"name"`
		UserFriendlyName string `json:"user-friendly-name"`
		FirmwareVersion  string `json:"firmware-version"`
		DomainID         int    `json:"domain-id"`
	}
	name := wwn.FromUint64(0x10000027f8000000 | uint64(s.opts.DomainID&0xff)).String()
	writeJSON(w, map[string]any{"fibrechannel-switch": []sw{{name, s.opts.SwitchName, s.opts.Firmware, s.opts.DomainID}}})
}

// decodeStrict refuses unknown leaves, as FOS refuses unknown elements: a
// driver's misspelt leaf fails its tests rather than being ignored.
func decodeStrict(r *http.Request, v any) *Error {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, mediaType) {
		return &Error{Status: http.StatusUnsupportedMediaType, Tag: "malformed-message", Message: fmt.Sprintf("Content-Type %q is not %s", ct, mediaType)}
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return &Error{Status: http.StatusBadRequest, Tag: "malformed-message", Message: err.Error()}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &Error{Status: http.StatusBadRequest, Tag: "malformed-message", Message: "Malformed request body: " + err.Error()}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &Error{Status: http.StatusBadRequest, Tag: "malformed-message", Message: "Malformed request body: trailing data"}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", mediaType)
	json.NewEncoder(w).Encode(map[string]any{"Response": v})
}

func writeError(w http.ResponseWriter, e *Error) {
	typ := "application"
	if e.Status == http.StatusUnauthorized || e.Tag == "malformed-message" {
		typ = "protocol"
	}
	item := map[string]string{"error-type": typ, "error-tag": e.Tag, "error-message": e.Message}
	if e.Path != "" {
		item["error-path"] = e.Path
	}
	w.Header().Set("Content-Type", mediaType)
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(map[string]any{"errors": map[string]any{"error": []map[string]string{item}}})
}

package brocade

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/fabric"
)

// Driver talks to one switch of a fabric. It is safe for concurrent use.
type Driver struct {
	cfg  Config
	http *http.Client
	log  logrus.FieldLogger

	authMu sync.Mutex
	token  string // the session's Authorization value; "" before login

	// zoneMu serializes transactions and zone DB reads: FOS shows a session
	// its own pending edits, so a read amid a commit would see zones that
	// are not committed.
	zoneMu sync.Mutex
	// open: a transaction of this session may still be open on the switch,
	// holding the fabric lock (an abort failed). The next zone operation
	// aborts it first.
	open bool
}

var (
	_ fabric.Driver         = (*Driver)(nil)
	_ fabric.ChecksumReader = (*Driver)(nil)
	_ fabric.PeerZoner      = (*Driver)(nil)
)

// Resources, after /rest/running/.
const (
	resDefined    = "brocade-zone/defined-configuration"
	resEffective  = "brocade-zone/effective-configuration"
	resChecksum   = resEffective + "/checksum"
	resNameServer = "brocade-name-server/fibrechannel-name-server"
	resSwitch     = "brocade-fibrechannel-switch/fibrechannel-switch"
)

const (
	mediaType = "application/yang-data+json"
	// maxReply bounds a reply read into memory: a 4 MB zone DB (FOS 9's
	// largest) is a few times that as JSON.
	maxReply = 64 << 20
)

// New validates cfg and returns a Driver; it logs in on first use.
func New(cfg Config) (*Driver, error) {
	hc, err := cfg.check()
	if err != nil {
		return nil, err
	}
	return &Driver{cfg: cfg, http: hc, log: cfg.Log.WithField("switch", cfg.URL)}, nil
}

// Close aborts a transaction left open and logs out. The Driver logs in
// again if it is used afterwards.
func (d *Driver) Close(ctx context.Context) error {
	d.zoneMu.Lock()
	err := d.settle(ctx)
	d.zoneMu.Unlock()
	d.authMu.Lock()
	token := d.token
	d.token = ""
	d.authMu.Unlock()
	if token != "" {
		r, lerr := d.exchange(ctx, http.MethodPost, d.cfg.URL+"/rest/logout", token, nil)
		if lerr == nil && !success(r.status) {
			lerr = classify(r.status, decodeErrors(r.body))
		}
		if lerr != nil {
			err = errors.Join(err, fmt.Errorf("brocade: logout: %w", lerr))
		}
	}
	d.http.CloseIdleConnections()
	return err
}

// PeerZones is true: the REST API exists from FOS 8.2 on, and peer zones
// from FOS 7.4.
func (d *Driver) PeerZones() bool { return true }

// Info identifies the switch the driver talks to.
func (d *Driver) Info(ctx context.Context) (fabric.Info, error) {
	var r switchReply
	if err := d.do(ctx, http.MethodGet, resSwitch, nil, &r); err != nil {
		return fabric.Info{}, err
	}
	if len(r.Response.Switch) == 0 {
		return fabric.Info{}, errors.New("brocade: the switch did not describe itself")
	}
	sw := r.Response.Switch[0]
	name := sw.UserFriendlyName
	if name == "" {
		name = sw.Name
	}
	return fabric.Info{Name: name, Vendor: "Brocade", Firmware: sw.FirmwareVersion}, nil
}

// Logins reads the name server. An entry the driver cannot read is logged
// and left out rather than failing the fabric's whole view.
func (d *Driver) Logins(ctx context.Context) ([]fabric.Login, error) {
	var r nameServerReply
	if err := d.do(ctx, http.MethodGet, resNameServer, nil, &r); err != nil {
		return nil, err
	}
	out := make([]fabric.Login, 0, len(r.Response.Entries))
	for _, e := range r.Response.Entries {
		l, err := toLogin(e)
		if err != nil {
			d.log.WithError(err).WithField("portId", e.PortID).Warn("brocade: unreadable name-server entry left out")
			continue
		}
		out = append(out, l)
	}
	return out, nil
}

// ZoneDBChecksum reads the checksum alone.
func (d *Driver) ZoneDBChecksum(ctx context.Context) (string, error) {
	var r effectiveReply
	if err := d.do(ctx, http.MethodGet, resChecksum, nil, &r); err != nil {
		return "", err
	}
	if r.Response.Effective.Checksum == "" {
		return "", errors.New("brocade: the switch reported no zone DB checksum")
	}
	return r.Response.Effective.Checksum, nil
}

// ZoneDB reads the effective and the defined configuration. Two reads are
// not atomic: the checksum is read again after them, and a zone DB that
// changed in between is read again.
func (d *Driver) ZoneDB(ctx context.Context) (fabric.ZoneDB, error) {
	d.zoneMu.Lock()
	defer d.zoneMu.Unlock()
	if err := d.settle(ctx); err != nil {
		return fabric.ZoneDB{}, err
	}
	for range 3 {
		eff, err := d.effective(ctx)
		if err != nil {
			return fabric.ZoneDB{}, err
		}
		def, err := d.defined(ctx)
		if err != nil {
			return fabric.ZoneDB{}, err
		}
		sum, err := d.ZoneDBChecksum(ctx)
		if err != nil {
			return fabric.ZoneDB{}, err
		}
		if sum == eff.Checksum {
			db, skipped := zoneDB(def, eff)
			if skipped > 0 {
				d.log.WithField("members", skipped).Debug("brocade: zone members without a WWN (D,I ports, unknown aliases) left out")
			}
			return db, nil
		}
	}
	return fabric.ZoneDB{}, fmt.Errorf("%w: brocade: the zone DB kept changing while it was read", fabric.ErrUnavailable)
}

// Abort cancels this session's open zoning transaction, if any.
func (d *Driver) Abort(ctx context.Context) error {
	d.zoneMu.Lock()
	defer d.zoneMu.Unlock()
	return d.abort(ctx)
}

func (d *Driver) abort(ctx context.Context) error {
	if err := d.do(ctx, http.MethodPatch, resEffective, effectiveBody(effectivePatch{CfgAction: 4}), nil); err != nil {
		return fmt.Errorf("brocade: abort: %w", err)
	}
	d.open = false
	return nil
}

// settle aborts a transaction an earlier failure may have left open, so
// that this operation neither reads nor extends it. Call with zoneMu held.
func (d *Driver) settle(ctx context.Context) error {
	if !d.open {
		return nil
	}
	return d.abort(ctx)
}

func (d *Driver) effective(ctx context.Context) (effectiveConfiguration, error) {
	var r effectiveReply
	err := d.do(ctx, http.MethodGet, resEffective, nil, &r)
	return r.Response.Effective, err
}

func (d *Driver) defined(ctx context.Context) (definedConfiguration, error) {
	var r definedReply
	err := d.do(ctx, http.MethodGet, resDefined, nil, &r)
	return r.Response.Defined, err
}

func effectiveBody(p effectivePatch) any {
	return map[string]effectivePatch{"effective-configuration": p}
}

func definedBody(c definedConfiguration) any {
	return map[string]definedConfiguration{"defined-configuration": c}
}

// do sends in to resource (the path after /rest/running/) and decodes the
// reply into out. A 401 is an expired session: log in again, once.
func (d *Driver) do(ctx context.Context, method, resource string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("brocade: %s %s: %w", method, resource, err)
		}
	}
	url := d.cfg.URL + "/rest/running/" + resource
	if d.cfg.VFID != 0 {
		url += "?vf-id=" + strconv.Itoa(d.cfg.VFID)
	}
	for relogin := true; ; relogin = false {
		token, err := d.session(ctx)
		if err != nil {
			return err
		}
		r, err := d.exchange(ctx, method, url, token, body)
		if err != nil {
			return fmt.Errorf("brocade: %s %s: %w", method, resource, err)
		}
		if r.status == http.StatusUnauthorized && relogin {
			d.log.Debug("brocade: session expired; logging in again")
			d.expire(token)
			continue
		}
		if !success(r.status) {
			return fmt.Errorf("brocade: %s %s: %w", method, resource, classify(r.status, decodeErrors(r.body)))
		}
		if out != nil {
			if err := json.Unmarshal(r.body, out); err != nil {
				return fmt.Errorf("brocade: %s %s: unreadable reply: %w", method, resource, err)
			}
		}
		return nil
	}
}

// session returns the session token, logging in when there is none.
func (d *Driver) session(ctx context.Context) (string, error) {
	d.authMu.Lock()
	defer d.authMu.Unlock()
	if d.token != "" {
		return d.token, nil
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(d.cfg.User+":"+d.cfg.Password))
	r, err := d.exchange(ctx, http.MethodPost, d.cfg.URL+"/rest/login", basic, nil)
	if err != nil {
		return "", fmt.Errorf("brocade: login: %w", err)
	}
	if !success(r.status) {
		return "", fmt.Errorf("brocade: login as %s: %w", d.cfg.User, classify(r.status, decodeErrors(r.body)))
	}
	token := r.header.Get("Authorization")
	if token == "" {
		return "", errors.New("brocade: login: the reply carries no session token")
	}
	d.token = token
	return token, nil
}

// expire forgets token unless a concurrent request has replaced it already.
func (d *Driver) expire(token string) {
	d.authMu.Lock()
	defer d.authMu.Unlock()
	if d.token == token {
		d.token = ""
	}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func success(status int) bool { return status >= 200 && status <= 299 }

// exchange sends one request, again while the switch answers 503: a busy
// switch has not processed the request, so even an edit is safe to resend —
// unlike after a timeout, when it may have been applied.
func (d *Driver) exchange(ctx context.Context, method, url, auth string, body []byte) (reply, error) {
	wait := d.cfg.Backoff
	for attempt := 0; ; attempt++ {
		r, err := d.send(ctx, method, url, auth, body)
		if err != nil || r.status != http.StatusServiceUnavailable || attempt == d.cfg.Retries {
			return r, err
		}
		d.log.WithField("retryIn", wait).Debug("brocade: switch busy")
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return reply{}, fmt.Errorf("%w: switch busy, then %w", fabric.ErrUnavailable, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, maxBackoff)
	}
}

func (d *Driver) send(ctx context.Context, method, url, auth string, body []byte) (reply, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Accept", mediaType)
	if body != nil {
		req.Header.Set("Content-Type", mediaType)
	}
	req.Header.Set("Authorization", auth)
	resp, err := d.http.Do(req)
	if err != nil {
		return reply{}, transportError(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return reply{}, transportError(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Client talks to one sanmobd. It is safe for concurrent use.
type Client struct {
	base        *url.URL
	hc          *http.Client
	token       string
	tokenFile   *fileValue[string] // WithTokenFile's, read again when it changes
	maxAttempts int
	minBackoff  time.Duration
	maxBackoff  time.Duration
	pageSize    int
	userAgent   string

	tlsConfig  *tls.Config
	caFile     string
	certFile   string
	keyFile    string
	customHTTP bool
}

// Option configures a Client.
type Option func(*Client) error

// WithToken sends "Authorization: Bearer token".
func WithToken(token string) Option {
	return func(c *Client) error { c.token, c.tokenFile = strings.TrimSpace(token), nil; return nil }
}

// WithTokenFile reads the bearer token from path (as sanmobd writes
// <data-dir>/admin.token, or a mounted Kubernetes secret), surrounding
// space trimmed. The file is read again when it changes, so a rotated
// token is used without a restart; while it is empty or unreadable the
// last token read is sent.
func WithTokenFile(path string) Option {
	return func(c *Client) error {
		fv, err := newFileValue(func() (string, error) { return readToken(path) }, path)
		if err != nil {
			return err
		}
		c.token, c.tokenFile = fv.val, fv
		return nil
	}
}

// WithTLS uses cfg for https (its RootCAs, Certificates for mTLS, …);
// WithCAFile and WithClientCert add to it.
func WithTLS(cfg *tls.Config) Option {
	return func(c *Client) error { c.tlsConfig = cfg.Clone(); return nil }
}

// WithCAFile trusts the PEM certificates in path (instead of the system's)
// for the daemon's certificate.
func WithCAFile(path string) Option {
	return func(c *Client) error { c.caFile = path; return nil }
}

// WithClientCert presents the certificate and key (PEM files) to a daemon
// that asks for client certificates (mTLS). The files are read again when
// they change (a renewed certificate is presented on the next new
// connection), unless a WithTLS config brings certificates of its own.
func WithClientCert(certFile, keyFile string) Option {
	return func(c *Client) error { c.certFile, c.keyFile = certFile, keyFile; return nil }
}

// WithHTTPClient uses hc for every request. TLS options then apply to a
// clone of its transport, which must be an *http.Transport. Unless hc has
// a CheckRedirect of its own, the client follows no redirect (see New).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("nil http client")
		}
		c.hc, c.customHTTP = hc, true
		return nil
	}
}

// WithMaxAttempts sets how many times a retryable call is tried in all
// (default 4; 1 disables retries).
func WithMaxAttempts(n int) Option {
	return func(c *Client) error {
		if n < 1 {
			return fmt.Errorf("max attempts %d: must be at least 1", n)
		}
		c.maxAttempts = n
		return nil
	}
}

// WithBackoff sets the first and the longest wait between attempts
// (defaults 200ms and 10s). Each wait doubles, with jitter; a Retry-After
// longer than the wait replaces it.
func WithBackoff(first, longest time.Duration) Option {
	return func(c *Client) error {
		if first <= 0 || longest < first {
			return fmt.Errorf("backoff %v..%v: want 0 < first <= longest", first, longest)
		}
		c.minBackoff, c.maxBackoff = first, longest
		return nil
	}
}

// WithPageSize asks lists for pages of n items (?limit=n); 0 leaves the
// daemon's default. Lists still return every item.
func WithPageSize(n int) Option {
	return func(c *Client) error { c.pageSize = n; return nil }
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(c *Client) error { c.userAgent = ua; return nil }
}

// New returns a client of the daemon at baseURL (http://host:port or
// https://host:port; a trailing /v1 is accepted).
//
// The client follows no redirect: sanmobd answers none of its own, and Go's
// http.Client would turn a PUT or DELETE redirected with a 301 into a GET
// of another path (the daemon's router redirects a path it cleans), which
// would look like a success. A 3xx comes back as an *Error naming the
// Location.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("server %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("server %q: want http://host:port or https://host:port", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/v1")
	c := &Client{
		base:        u,
		hc:          &http.Client{},
		maxAttempts: 4,
		minBackoff:  200 * time.Millisecond,
		maxBackoff:  10 * time.Second,
		userAgent:   "sanmob-go-client",
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if err := c.setupTLS(); err != nil {
		return nil, err
	}
	if c.hc.CheckRedirect == nil {
		hc := *c.hc // never change the caller's client
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		c.hc = &hc
	}
	return c, nil
}

func (c *Client) setupTLS() error {
	if c.tlsConfig == nil && c.caFile == "" && c.certFile == "" {
		return nil
	}
	cfg := c.tlsConfig
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("CA file %s: no PEM certificate in it", c.caFile)
		}
		cfg.RootCAs = pool
	}
	if c.certFile != "" || c.keyFile != "" {
		certFile, keyFile := c.certFile, c.keyFile
		fv, err := newFileValue(func() (*tls.Certificate, error) { return loadKeyPair(certFile, keyFile) }, certFile, keyFile)
		if err != nil {
			return err
		}
		if len(cfg.Certificates) > 0 || cfg.GetClientCertificate != nil {
			cfg.Certificates = append(cfg.Certificates, *fv.val) // beside the caller's own, as read now
		} else {
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return fv.get(), nil }
		}
	}
	var tr *http.Transport
	switch t := c.hc.Transport.(type) {
	case nil:
		tr = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		tr = t.Clone()
	default:
		return fmt.Errorf("TLS options need an *http.Transport, the HTTP client has a %T", t)
	}
	tr.TLSClientConfig = cfg
	hc := *c.hc
	hc.Transport = tr
	c.hc = &hc
	return nil
}

// bearer is the token to send: WithTokenFile's as the file now says, or
// WithToken's.
func (c *Client) bearer() string {
	if c.tokenFile != nil {
		return c.tokenFile.get()
	}
	return c.token
}

// BaseURL returns the daemon's address as the client uses it.
func (c *Client) BaseURL() string { return c.base.String() }

// retryPolicy says which failures a call may be retried on.
type retryPolicy int

const (
	// idempotent calls retry 503, 429 and network errors.
	idempotent retryPolicy = iota
	// onlyRefused calls (they start something) retry 429 alone.
	onlyRefused
)

func (p retryPolicy) retries(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		if p == onlyRefused {
			return e.Status == http.StatusTooManyRequests
		}
		return e.Temporary()
	}
	return p == idempotent && isNetworkError(err)
}

// request is one API call.
type request struct {
	method string
	path   string // under /v1, escaped
	query  url.Values
	body   any
	policy retryPolicy
	accept string
}

// send does r with retries and returns the successful answer, whose body
// the caller closes.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	var body []byte
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, err
		}
		body = b
	}
	target := strings.TrimRight(c.base.String(), "/") + "/v1" + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	for attempt := 1; ; attempt++ {
		resp, err := c.once(ctx, r, target, body)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if attempt >= c.maxAttempts || !r.policy.retries(err) {
			return nil, err
		}
		wait := c.backoff(attempt)
		var e *Error
		if errors.As(err, &e) && e.RetryAfter > wait {
			wait = e.RetryAfter
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return nil, err // no time left for another try: the answer we have
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// backoff is the wait after the attempt-th failure: min·2^(attempt-1),
// capped, with the upper half of it jittered.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.minBackoff << min(attempt-1, 30)
	if d <= 0 || d > c.maxBackoff {
		d = c.maxBackoff
	}
	half := d / 2
	return half + rand.N(half+1)
}

func (c *Client) once(ctx context.Context, r request, target string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, target, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	accept := r.accept
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept+", application/problem+json")
	if tok := c.bearer(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, decodeError(resp)
}

// decodeError makes an *Error of a non-2xx answer.
func decodeError(resp *http.Response) *Error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	e := &Error{}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/problem+json" || mt == "application/json" {
		_ = json.Unmarshal(raw, e)
	}
	e.Status = resp.StatusCode // the status line wins over the body's
	if e.Title == "" {
		e.Title = http.StatusText(resp.StatusCode)
	}
	if e.Detail == "" && e.Type == "" {
		e.Detail = strings.TrimSpace(string(raw))
		if len(e.Detail) > 512 {
			e.Detail = e.Detail[:512] + "…"
		}
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		e.Detail = fmt.Sprintf("redirected to %q, which the client does not follow", resp.Header.Get("Location"))
	}
	e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	if resp.Request != nil {
		e.Method, e.URL = resp.Request.Method, resp.Request.URL.String()
	}
	return e
}

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// do sends r and decodes a JSON answer into out (when out is not nil).
func (c *Client) do(ctx context.Context, r request, out any) error {
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", r.method, r.path, err)
	}
	return nil
}

// page is a list answer.
type page[T any] struct {
	Items    []T    `json:"items"`
	Continue string `json:"continue"`
}

// list reads every page of a list.
func list[T any](ctx context.Context, c *Client, path string, q url.Values) ([]T, error) {
	out := []T{}
	if q == nil {
		q = url.Values{}
	}
	if c.pageSize > 0 {
		q.Set("limit", strconv.Itoa(c.pageSize))
	}
	seen := map[string]bool{}
	for {
		var p page[T]
		if err := c.do(ctx, request{method: http.MethodGet, path: path, query: q}, &p); err != nil {
			return nil, err
		}
		out = append(out, p.Items...)
		if p.Continue == "" {
			return out, nil
		}
		if seen[p.Continue] {
			return nil, fmt.Errorf("GET %s: the daemon gave continue token %q twice", path, p.Continue)
		}
		seen[p.Continue] = true
		q.Set("continue", p.Continue)
	}
}

// seg escapes one path segment.
func seg(s string) string { return url.PathEscape(s) }

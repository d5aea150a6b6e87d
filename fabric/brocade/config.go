package brocade

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/fabric"
)

// Config is how to reach and log in to one switch of a fabric.
type Config struct {
	URL      string // https://switch[:port]
	User     string
	Password string // never logged, never in an error
	// VFID selects the logical switch (?vf-id=N, FOS FIDs 1–128); 0 sends
	// no vf-id, addressing the default logical switch.
	VFID int
	// The CA that signed the switch's certificate: PEM in CA or in the file
	// CAFile, at most one of them. Neither: the system's pool.
	CA     []byte
	CAFile string
	// InsecureSkipVerify turns certificate checks off. Only for a lab; it
	// lets anyone on the path read the password.
	InsecureSkipVerify bool
	// Timeout bounds each request; default 60 s, as a zoning commit on a big
	// fabric takes seconds and FOS can be slow to answer.
	Timeout time.Duration
	// Retries is how often a 503 busy reply is retried; default 4, negative
	// for none. Backoff is the first wait, doubled each time up to 30 s;
	// default 1 s.
	Retries int
	Backoff time.Duration
	Log     logrus.FieldLogger // default: discard
}

// String leaves the password out, so that logging a Config is safe.
func (c Config) String() string {
	return fmt.Sprintf("brocade.Config{URL: %s, User: %s, VFID: %d}", c.URL, c.User, c.VFID)
}

const (
	defaultTimeout = 60 * time.Second
	defaultRetries = 4
	defaultBackoff = time.Second
	maxBackoff     = 30 * time.Second
)

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: brocade: "+format, append([]any{fabric.ErrInvalid}, a...)...)
}

// check validates c, fills in the defaults and builds the HTTP client.
func (c *Config) check() (*http.Client, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		// url's error quotes the whole URL, which may carry a password.
		return nil, invalidf("URL is not a valid URL")
	}
	switch {
	case u.User != nil:
		return nil, invalidf("URL %s carries credentials; set User and Password instead", u.Redacted())
	case u.Scheme != "https":
		return nil, invalidf("URL %s: want https://switch[:port]; the password must not cross the network in clear", u.Redacted())
	case u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return nil, invalidf("URL %s: want https://switch[:port] and nothing more", u.Redacted())
	case c.User == "":
		return nil, invalidf("User is empty")
	case c.Password == "":
		return nil, invalidf("Password is empty")
	case c.VFID < 0 || c.VFID > 128:
		return nil, invalidf("VFID %d is outside 1–128 (0 for none)", c.VFID)
	case c.CA != nil && c.CAFile != "":
		return nil, invalidf("CA and CAFile are both set; give one")
	case c.InsecureSkipVerify && (c.CA != nil || c.CAFile != ""):
		return nil, invalidf("InsecureSkipVerify with a CA: the CA would be ignored")
	case c.Timeout < 0 || c.Backoff < 0:
		return nil, invalidf("Timeout and Backoff must not be negative")
	}
	c.URL = u.Scheme + "://" + u.Host
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	switch {
	case c.Retries == 0:
		c.Retries = defaultRetries
	case c.Retries < 0:
		c.Retries = 0
	}
	if c.Backoff == 0 {
		c.Backoff = defaultBackoff
	}
	if c.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		c.Log = l
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify}
	ca := c.CA
	if c.CAFile != "" {
		if ca, err = os.ReadFile(c.CAFile); err != nil {
			return nil, invalidf("CAFile: %v", err)
		}
	}
	if ca != nil {
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(ca) {
			return nil, invalidf("the CA holds no PEM certificate")
		}
	}
	if c.InsecureSkipVerify {
		c.Log.WithField("switch", c.URL).Warn("brocade: TLS certificate checks are off (InsecureSkipVerify)")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	// A switch has no reason to redirect, and following one would carry the
	// session token along.
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &http.Client{Transport: tr, CheckRedirect: noRedirect}, nil
}

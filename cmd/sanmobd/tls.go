package main

// TLS for the REST API and the CSI endpoint on TCP.
//
// One server certificate (--tls-cert, --tls-key) serves both. Client
// certificates are verified against two separate CAs, because they gate two
// different things: on REST a client certificate is an extra gate in front
// of the bearer token and its role (--tls-client-ca), while on CSI, which
// has no tokens and no roles, the client certificate is the whole
// authentication (--csi-client-ca). With one CA, every REST client issued a
// certificate — a viewer's script too — could create and delete volumes
// through CSI, which is what the issue is about.
//
// The certificate and both CAs are read again on SIGHUP and swapped in as
// one set, atomically: the next handshake sees the new set, connections
// already up keep theirs. A set that fails to load (a missing file, a key
// that does not match the certificate, a CA file without a certificate) is
// logged and the previous set stays.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc/credentials"
)

// certFiles are the files a certSet is read from; a CA file may be empty
// (not configured).
type certFiles struct {
	cert, key string
	restCA    string // --tls-client-ca
	csiCA     string // --csi-client-ca
}

// certSet is one loaded generation of the files.
type certSet struct {
	cert    tls.Certificate // Leaf is set
	restCAs *x509.CertPool  // nil without --tls-client-ca
	csiCAs  *x509.CertPool  // nil without --csi-client-ca
}

// certReloader holds the current certSet; handshakes read it, reload swaps it.
type certReloader struct {
	files certFiles
	cur   atomic.Pointer[certSet]
}

// newCertReloader loads the files once; an error names the flag and the file.
func newCertReloader(files certFiles) (*certReloader, error) {
	r := &certReloader{files: files}
	if _, err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// reload reads every file and, only when all of them load, makes them the
// current set. On an error the current set is unchanged.
func (r *certReloader) reload() (*certSet, error) {
	f := r.files
	cert, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", f.cert, f.key, err)
	}
	if cert.Leaf == nil { // LoadX509KeyPair sets it since Go 1.23
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("--tls-cert %s: %w", f.cert, err)
		}
	}
	s := &certSet{cert: cert}
	if f.restCA != "" {
		if s.restCAs, err = loadCAs(f.restCA); err != nil {
			return nil, fmt.Errorf("--tls-client-ca %w", err)
		}
	}
	if f.csiCA != "" {
		if s.csiCAs, err = loadCAs(f.csiCA); err != nil {
			return nil, fmt.Errorf("--csi-client-ca %w", err)
		}
	}
	r.cur.Store(s)
	return s, nil
}

func loadCAs(path string) (*x509.CertPool, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err // *PathError: names the file
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(raw) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return pool, nil
}

// restTLS is the REST listener's configuration: HTTP/1.1, as the API is
// served without TLS, and client certificates required and verified when
// --tls-client-ca is set.
func (r *certReloader) restTLS() *tls.Config {
	return r.serverTLS([]string{"http/1.1"}, r.files.restCA != "", func(s *certSet) *x509.CertPool { return s.restCAs })
}

// csiTLS is the CSI endpoint's configuration on TCP: client certificates
// signed by --csi-client-ca are always required. gRPC's credentials add h2.
func (r *certReloader) csiTLS() *tls.Config {
	return r.serverTLS(nil, true, func(s *certSet) *x509.CertPool { return s.csiCAs })
}

// serverTLS builds a server configuration that takes the certificate and
// the client CAs from the current set at every handshake: TLS 1.2 at
// least, Go's default cipher suites.
func (r *certReloader) serverTLS(protos []string, mutual bool, cas func(*certSet) *x509.CertPool) *tls.Config {
	base := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: protos}
	cfg := base.Clone()
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		s := r.cur.Load()
		c := base.Clone()
		c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &s.cert, nil }
		if mutual {
			c.ClientAuth = tls.RequireAndVerifyClientCert
			c.ClientCAs = cas(s)
		}
		return c, nil
	}
	return cfg
}

// fields describe a set for the log: the certificate's serial, subject and
// validity, never a key.
func (s *certSet) fields() logrus.Fields {
	l := s.cert.Leaf
	return logrus.Fields{"serial": l.SerialNumber.Text(16), "subject": l.Subject.String(),
		"notAfter": l.NotAfter.UTC().Format(time.RFC3339)}
}

// logLoaded logs a set that was just loaded, and warns when its
// certificate is not valid now: clients will refuse it.
func logLoaded(log logrus.FieldLogger, s *certSet, msg string, now time.Time) {
	e := log.WithFields(s.fields())
	if l := s.cert.Leaf; now.After(l.NotAfter) || now.Before(l.NotBefore) {
		e.WithField("notBefore", l.NotBefore.UTC().Format(time.RFC3339)).Warn(msg + "; the certificate is not valid now: clients will refuse it")
		return
	}
	e.Info(msg)
}

// reloadOn reloads the set on every signal on sig until ctx ends. A reload
// that fails is logged and keeps the previous set.
func (r *certReloader) reloadOn(sig <-chan os.Signal, log logrus.FieldLogger) func(context.Context) error {
	return func(ctx context.Context) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-sig:
			}
			s, err := r.reload()
			if err != nil {
				log.WithError(err).WithFields(r.cur.Load().fields()).Error("tls: SIGHUP: reloading the certificates failed; still serving the previous ones")
				continue
			}
			logLoaded(log, s, "tls: SIGHUP: certificates reloaded", time.Now())
		}
	}
}

// restTLSMode is the REST API's TLS for the serving log line: off, on, or
// mutual (client certificates required).
func (d *Daemon) restTLSMode() string {
	switch {
	case d.certs == nil:
		return "off"
	case d.cfg.TLSClientCA != "":
		return "mutual"
	}
	return "on"
}

// csiTLSMode is the CSI endpoint's: none on a unix socket, mutual on TCP,
// or insecure with --csi-insecure-tcp.
func (d *Daemon) csiTLSMode() string {
	switch {
	case !d.cfg.csiTCP():
		return "none (unix socket, mode 0600)"
	case d.cfg.CSIInsecureTCP:
		return "insecure"
	}
	return "mutual"
}

// logTLS logs, at every start, the certificate being served and, with
// --csi-insecure-tcp, that the CSI endpoint is open to anyone.
func (d *Daemon) logTLS(log logrus.FieldLogger) {
	if d.certs != nil {
		logLoaded(log, d.certs.cur.Load(), "tls: certificates loaded (SIGHUP reloads them)", time.Now())
	}
	if d.cfg.csiTCP() && d.cfg.CSIInsecureTCP {
		log.WithField("csiEndpoint", d.cfg.CSIEndpoint).Warn("--csi-insecure-tcp: the CSI endpoint accepts anyone who can reach it, without TLS or client certificates, and every caller can create, attach and delete volumes past the REST API's roles")
	}
}

// loggedCreds logs the handshakes the CSI endpoint refuses (no client
// certificate, an unknown CA, no TLS at all), which gRPC keeps to itself
// below its error level: whoever sets up a CSI sidecar learns why it is
// refused.
type loggedCreds struct {
	credentials.TransportCredentials
	log logrus.FieldLogger
}

func (c loggedCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		c.log.WithError(err).WithField("remote", conn.RemoteAddr().String()).Warn("csi: TLS handshake refused")
	}
	return out, info, err
}

func (c loggedCreds) Clone() credentials.TransportCredentials {
	return loggedCreds{c.TransportCredentials.Clone(), c.log}
}

// logWriter is an http.Server's ErrorLog output: a line, a warning.
type logWriter struct{ log logrus.FieldLogger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Warn(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

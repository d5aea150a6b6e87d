package main

// TLS: the flag checks and the reloader in process, then the real binary
// over HTTPS and over CSI on TCP with mutual TLS, and SIGHUP. Every
// certificate is made here: a CA for REST clients, another for CSI
// clients, server certificates for 127.0.0.1 and localhost.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// --- certificates ---------------------------------------------------------------

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
	pool *x509.CertPool
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pool: pool}
}

// issue makes a leaf: a server certificate for 127.0.0.1 and localhost, or
// a client certificate; PEM certificate and key.
func (ca *testCA) issue(t testing.TB, cn string, serial int64, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames, tmpl.IPAddresses = []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// client is a client certificate signed by ca.
func (ca *testCA) client(t testing.TB, cn string, serial int64) *tls.Certificate {
	t.Helper()
	c, k := ca.issue(t, cn, serial, false)
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return &pair
}

func writePEM(t testing.TB, path string, b []byte) string {
	t.Helper()
	// Through a rename, as a certificate manager replaces files.
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	return path
}

// tlsFiles is one set of files the daemon is started with.
type tlsFiles struct {
	dir                         string
	server, rest, csi           *testCA // the server's CA, REST clients', CSI clients'
	cert, key, restCA, csiCA    string
	certSerial                  int64
	restClient, csiClient, evil *tls.Certificate // evil: signed by an unknown CA
}

func newTLSFiles(t testing.TB) *tlsFiles {
	t.Helper()
	f := &tlsFiles{dir: t.TempDir(), server: newTestCA(t, "sanmob test server CA"),
		rest: newTestCA(t, "sanmob test REST clients CA"), csi: newTestCA(t, "sanmob test CSI clients CA")}
	f.cert, f.key = filepath.Join(f.dir, "tls.crt"), filepath.Join(f.dir, "tls.key")
	f.setServer(t, 0x1001)
	f.restCA = writePEM(t, filepath.Join(f.dir, "rest-ca.pem"), f.rest.pem)
	f.csiCA = writePEM(t, filepath.Join(f.dir, "csi-ca.pem"), f.csi.pem)
	f.restClient = f.rest.client(t, "ops-script", 0x2001)
	f.csiClient = f.csi.client(t, "csi-provisioner", 0x3001)
	f.evil = newTestCA(t, "someone else").client(t, "intruder", 0x4001)
	return f
}

// setServer writes a new server certificate and key with this serial.
func (f *tlsFiles) setServer(t testing.TB, serial int64) {
	t.Helper()
	c, k := f.server.issue(t, "sanmobd", serial, true)
	writePEM(t, f.key, k)
	writePEM(t, f.cert, c)
	f.certSerial = serial
}

// clientTLS is a client configuration that trusts the server's CA and
// presents cert (none when nil).
func (f *tlsFiles) clientTLS(cert *tls.Certificate, protos ...string) *tls.Config {
	c := &tls.Config{RootCAs: f.server.pool, ServerName: "127.0.0.1", NextProtos: protos, MinVersion: tls.VersionTLS12}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

func (f *tlsFiles) httpClient(cert *tls.Certificate) *http.Client {
	// No keep-alive: every request is a new handshake, which sees the
	// certificates of the moment.
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: f.clientTLS(cert), DisableKeepAlives: true}}
}

// serverSerial handshakes with addr and returns the serial of the
// certificate the server presented.
func serverSerial(t testing.TB, addr string, cfg *tls.Config) int64 {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// --- the flags, in process --------------------------------------------------------

func tlsTestConfig(dataDir string) Config {
	return Config{DataDir: dataDir, Listen: "127.0.0.1:0", LabSpeed: 60, LabSeed: 1, LabSize: "small", LabFabricPairs: 1,
		Compute: "lab", ComputeTimeout: time.Minute, LogFormat: "text", LogLevel: "info"}
}

func TestTLSConfig(t *testing.T) {
	f := newTLSFiles(t)
	other := newTLSFiles(t)
	empty := writePEM(t, filepath.Join(f.dir, "empty.pem"), []byte("no certificate here\n"))
	const tcp = "tcp://127.0.0.1:0"
	for _, tc := range []struct {
		name string
		set  func(c *Config)
		want []string // substrings of the error; none: New succeeds
	}{
		{name: "no TLS", set: func(c *Config) {}},
		{name: "server TLS", set: func(c *Config) { c.TLSCert, c.TLSKey = f.cert, f.key }},
		{name: "mutual REST", set: func(c *Config) { c.TLSCert, c.TLSKey, c.TLSClientCA = f.cert, f.key, f.restCA }},
		{name: "mutual CSI on TCP", set: func(c *Config) { c.TLSCert, c.TLSKey, c.CSIClientCA, c.CSIEndpoint = f.cert, f.key, f.csiCA, tcp }},
		{name: "insecure CSI on TCP", set: func(c *Config) { c.CSIEndpoint, c.CSIInsecureTCP = tcp, true }},
		{name: "cert without key", set: func(c *Config) { c.TLSCert = f.cert }, want: []string{"--tls-cert", "--tls-key"}},
		{name: "key without cert", set: func(c *Config) { c.TLSKey = f.key }, want: []string{"--tls-cert", "--tls-key"}},
		{name: "client CA without cert", set: func(c *Config) { c.TLSClientCA = f.restCA }, want: []string{"--tls-client-ca needs --tls-cert and --tls-key"}},
		{name: "CSI on TCP without TLS", set: func(c *Config) { c.CSIEndpoint = tcp },
			want: []string{"--csi-endpoint " + tcp, "requires mutual TLS", "missing --tls-cert, --tls-key, --csi-client-ca", "--csi-insecure-tcp"}},
		{name: "CSI on TCP without client CA", set: func(c *Config) { c.TLSCert, c.TLSKey, c.CSIEndpoint = f.cert, f.key, tcp },
			want: []string{"requires mutual TLS (missing --csi-client-ca)"}},
		{name: "CSI on TCP with the REST CA only", set: func(c *Config) { c.TLSCert, c.TLSKey, c.TLSClientCA, c.CSIEndpoint = f.cert, f.key, f.restCA, tcp },
			want: []string{"missing --csi-client-ca"}},
		{name: "CSI client CA on a unix socket", set: func(c *Config) { c.TLSCert, c.TLSKey, c.CSIClientCA = f.cert, f.key, f.csiCA },
			want: []string{"--csi-client-ca applies to a tcp:// --csi-endpoint only"}},
		{name: "insecure on a unix socket", set: func(c *Config) { c.CSIInsecureTCP = true }, want: []string{"--csi-insecure-tcp applies to a tcp://"}},
		{name: "insecure and a CSI CA", set: func(c *Config) {
			c.TLSCert, c.TLSKey, c.CSIClientCA, c.CSIEndpoint, c.CSIInsecureTCP = f.cert, f.key, f.csiCA, tcp, true
		}, want: []string{"--csi-insecure-tcp and --csi-client-ca contradict"}},
		{name: "key of another certificate", set: func(c *Config) { c.TLSCert, c.TLSKey = f.cert, other.key },
			want: []string{"--tls-cert " + f.cert, "--tls-key " + other.key, "private key does not match"}},
		{name: "missing cert file", set: func(c *Config) { c.TLSCert, c.TLSKey = filepath.Join(f.dir, "nope.crt"), f.key },
			want: []string{"--tls-cert", "nope.crt", "no such file"}},
		{name: "client CA without a certificate", set: func(c *Config) { c.TLSCert, c.TLSKey, c.TLSClientCA = f.cert, f.key, empty },
			want: []string{"--tls-client-ca " + empty, "no PEM certificate"}},
		{name: "missing CSI CA file", set: func(c *Config) {
			c.TLSCert, c.TLSKey, c.CSIClientCA, c.CSIEndpoint = f.cert, f.key, filepath.Join(f.dir, "nope.pem"), tcp
		}, want: []string{"--csi-client-ca", "nope.pem"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			cfg := tlsTestConfig(dataDir)
			tc.set(&cfg)
			_, err := New(cfg)
			switch {
			case len(tc.want) == 0 && err != nil:
				t.Fatalf("New: %v", err)
			case len(tc.want) > 0 && err == nil:
				t.Fatalf("New accepted it; want an error naming %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error does not say %q:\n%v", w, err)
				}
			}
			if _, err := os.Stat(dataDir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("New created the data dir (%v)", err)
			}
		})
	}
}

// --- the reloader, in process ---------------------------------------------------------

// serveTLS accepts on a loopback listener with cfg, completes each
// handshake and writes one byte, so a client learns whether it was let in.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	tln := tls.NewListener(ln, cfg)
	go func() {
		for {
			c, err := tln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					_, _ = c.Write([]byte{1})
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// admitted says whether the server let a client with cfg in: the
// handshake and a first read succeed (under TLS 1.3 the server's verdict on
// a client certificate comes after the client's handshake is done).
func admitted(addr string, cfg *tls.Config) error {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadFull(c, make([]byte, 1))
	return err
}

func TestCertReloader(t *testing.T) {
	f := newTLSFiles(t)
	r, err := newCertReloader(certFiles{cert: f.cert, key: f.key, restCA: f.restCA, csiCA: f.csiCA})
	if err != nil {
		t.Fatal(err)
	}
	rest, csiAddr := serveTLS(t, r.restTLS()), serveTLS(t, r.csiTLS())

	if got := serverSerial(t, rest, f.clientTLS(f.restClient)); got != 0x1001 {
		t.Fatalf("serial %x, want 1001", got)
	}
	// Each endpoint takes the clients of its own CA only.
	for _, c := range []struct {
		name  string
		addr  string
		cert  *tls.Certificate
		admit bool
	}{
		{"REST, REST client", rest, f.restClient, true},
		{"REST, no certificate", rest, nil, false},
		{"REST, CSI client", rest, f.csiClient, false},
		{"CSI, CSI client", csiAddr, f.csiClient, true},
		{"CSI, REST client", csiAddr, f.restClient, false},
		{"CSI, no certificate", csiAddr, nil, false},
		{"CSI, unknown CA", csiAddr, f.evil, false},
	} {
		if err := admitted(c.addr, f.clientTLS(c.cert)); (err == nil) != c.admit {
			t.Errorf("%s: admitted %v (%v), want %v", c.name, err == nil, err, c.admit)
		}
	}
	// TLS 1.1 is refused.
	old := f.clientTLS(f.restClient)
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if err := admitted(rest, old); err == nil {
		t.Errorf("a TLS 1.1 client was let in")
	}

	// A client that resumes sessions: resumption must not outlive its CA.
	resuming := f.clientTLS(f.restClient)
	resuming.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	if err := admitted(rest, resuming); err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", rest, resuming)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadFull(conn, make([]byte, 1))
	resumed := conn.ConnectionState().DidResume
	_ = conn.Close()
	if err != nil || !resumed {
		t.Fatalf("the second connection: resumed %v, %v; want a resumed session", resumed, err)
	}

	// A new certificate and a new REST client CA, in one reload.
	f.setServer(t, 0x1002)
	newCA := newTestCA(t, "rotated REST clients CA")
	writePEM(t, f.restCA, newCA.pem)
	if _, err := r.reload(); err != nil {
		t.Fatal(err)
	}
	if got := serverSerial(t, rest, f.clientTLS(newCA.client(t, "ops", 7))); got != 0x1002 {
		t.Errorf("after reload: serial %x, want 1002", got)
	}
	if got := serverSerial(t, csiAddr, f.clientTLS(f.csiClient)); got != 0x1002 {
		t.Errorf("CSI after reload: serial %x, want 1002", got)
	}
	if err := admitted(rest, f.clientTLS(f.restClient)); err == nil {
		t.Errorf("a client of the replaced CA is still let in")
	}
	if err := admitted(rest, resuming); err == nil {
		t.Errorf("a client of the replaced CA is still let in by resuming its session")
	}
	if err := admitted(rest, f.clientTLS(newCA.client(t, "ops", 8))); err != nil {
		t.Errorf("a client of the new CA is refused: %v", err)
	}

	// A certificate half written (key of another pair): the reload fails
	// and the previous set keeps serving.
	c, _ := f.server.issue(t, "sanmobd", 0x1003, true)
	writePEM(t, f.cert, c)
	if _, err := r.reload(); err == nil || !strings.Contains(err.Error(), "private key does not match") {
		t.Fatalf("reload of a mismatched pair: %v", err)
	}
	if got := serverSerial(t, rest, f.clientTLS(newCA.client(t, "ops", 9))); got != 0x1002 {
		t.Errorf("after a failed reload: serial %x, want 1002 still", got)
	}
}

// --- the binary ---------------------------------------------------------------------

// startTLSDaemon is startDaemon over HTTPS: readiness is asked with client.
func startTLSDaemon(t *testing.T, dataDir string, client *http.Client, extra ...string) *daemon {
	t.Helper()
	bin := daemonBin(t)
	args := append([]string{"--data-dir", dataDir, "--listen", "127.0.0.1:0", "--log-format", "json"}, extra...)
	d := &daemon{t: t, dataDir: dataDir, log: newLogSink(), done: make(chan struct{})}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start sanmobd: %v", err)
	}
	go func() {
		_ = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		d.kill()
		if strings.Contains(d.log.String(), "WARNING: DATA RACE") {
			t.Errorf("the daemon reported a data race:\n%s", d.log.String())
		}
	})
	select {
	case addr := <-d.log.addr:
		d.base = "https://" + addr
	case <-d.done:
		t.Fatalf("sanmobd %v exited before serving (%v):\n%s", args, d.cmd.ProcessState, d.log.String())
	case <-time.After(startTimeout):
		t.Fatalf("sanmobd %v: no %q log line within %v:\n%s", args, servingMsg, startTimeout, d.log.String())
	}
	raw, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatalf("read admin.token: %v", err)
	}
	d.token = strings.TrimSpace(string(raw))
	deadline := time.Now().Add(startTimeout)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 250*time.Millisecond) {
		st, err := getStatus(client, d.base+"/readyz", "")
		if err == nil && st == http.StatusOK {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("sanmobd not ready within %v (%d, %v):\n%s", startTimeout, st, err, d.log.String())
		}
		select {
		case <-d.done:
			t.Fatalf("sanmobd exited before it was ready (%v):\n%s", d.cmd.ProcessState, d.log.String())
		case <-time.After(wait):
		}
	}
}

func getStatus(c *http.Client, url, token string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// servingField is a field of the daemon's serving log line.
func servingField(t *testing.T, d *daemon, key string) string {
	t.Helper()
	recs := d.log.records(servingMsg)
	if len(recs) == 0 {
		t.Fatalf("no serving line")
	}
	v, _ := recs[0][key].(string)
	return v
}

// waitRecords waits until the daemon has logged msg n times; a msg
// ending in "..." matches the messages that start with the rest.
func waitRecords(t *testing.T, d *daemon, msg string, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		var recs []map[string]any
		if prefix, ok := strings.CutSuffix(msg, "..."); ok {
			sc := bufio.NewScanner(strings.NewReader(d.log.String()))
			sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
			for sc.Scan() {
				var rec map[string]any
				if json.Unmarshal(sc.Bytes(), &rec) == nil && strings.HasPrefix(fmt.Sprint(rec["msg"]), prefix) {
					recs = append(recs, rec)
				}
			}
		} else {
			recs = d.log.records(msg)
		}
		if len(recs) >= n {
			return recs
		}
		if time.Now().After(deadline) || d.exited() {
			t.Fatalf("no %q log line %d within 20s:\n%s", msg, n, d.log.String())
		}
		time.Sleep(wait)
	}
}

// csiCall calls GetPluginInfo and ControllerGetCapabilities on addr.
func csiCall(addr string, creds credentials.TransportCredentials) error {
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := csi.NewIdentityClient(conn).GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
	if err != nil {
		return err
	}
	if info.GetName() != "csi.sanmob.io" {
		return fmt.Errorf("plugin %q", info.GetName())
	}
	_, err = csi.NewControllerClient(conn).ControllerGetCapabilities(ctx, &csi.ControllerGetCapabilitiesRequest{})
	return err
}

// TestTLSMutualE2E: REST with client certificates, CSI on TCP with mutual
// TLS, and SIGHUP rotating the certificate under both.
func TestTLSMutualE2E(t *testing.T) {
	t.Parallel()
	f := newTLSFiles(t)
	withCert := f.httpClient(f.restClient)
	d := startTLSDaemon(t, t.TempDir(), withCert, "--tls-cert", f.cert, "--tls-key", f.key, "--tls-client-ca", f.restCA,
		"--csi-endpoint", "tcp://127.0.0.1:0", "--csi-client-ca", f.csiCA)
	if got, want := servingField(t, d, "restTLS")+" "+servingField(t, d, "csiTLS"), "mutual mutual"; got != want {
		t.Errorf("serving line says restTLS, csiTLS = %s, want %s", got, want)
	}
	csiAddr := servingField(t, d, "csiAddr")

	// REST: the certificate is an extra gate; the token is still needed.
	if st, err := getStatus(withCert, d.base+"/v1/hosts", d.token); err != nil || st != http.StatusOK {
		t.Errorf("GET /v1/hosts with a client certificate and the token: %d, %v; want 200", st, err)
	}
	if st, err := getStatus(withCert, d.base+"/v1/hosts", ""); err != nil || st != http.StatusUnauthorized {
		t.Errorf("GET /v1/hosts with a client certificate, no token: %d, %v; want 401", st, err)
	}
	for name, c := range map[string]*http.Client{"no certificate": f.httpClient(nil), "a CSI client's certificate": f.httpClient(f.csiClient),
		"an unknown CA's certificate": f.httpClient(f.evil)} {
		if st, err := getStatus(c, d.base+"/v1/hosts", d.token); err == nil {
			t.Errorf("GET /v1/hosts with %s and the token: %d, want the handshake refused", name, st)
		}
	}

	// CSI: only a client certificate of the CSI CA gets in.
	if err := csiCall(csiAddr, credentials.NewTLS(f.clientTLS(f.csiClient))); err != nil {
		t.Errorf("CSI with a CSI client certificate: %v", err)
	}
	for name, creds := range map[string]credentials.TransportCredentials{
		"no certificate":     credentials.NewTLS(f.clientTLS(nil)),
		"a REST client's":    credentials.NewTLS(f.clientTLS(f.restClient)),
		"an unknown CA's":    credentials.NewTLS(f.clientTLS(f.evil)),
		"no TLS (plaintext)": insecure.NewCredentials(),
	} {
		err := csiCall(csiAddr, creds)
		if status.Code(err) != codes.Unavailable {
			t.Errorf("CSI with %s: %v, want Unavailable (the connection refused)", name, err)
		}
	}

	// The refusals are logged, with who and why.
	for _, r := range waitRecords(t, d, "http: TLS handshake error from 127.0.0.1:...", 3) {
		if r["level"] != "warning" || r["component"] != "http" || !strings.Contains(fmt.Sprint(r["msg"]), "certificate") {
			t.Errorf("REST refusal logged as %v; want a warning of component http saying why", r)
		}
	}
	for _, r := range waitRecords(t, d, "csi: TLS handshake refused", 4) {
		if r["level"] != "warning" || r["component"] != "csi" || !strings.HasPrefix(fmt.Sprint(r["remote"]), "127.0.0.1:") || r["error"] == nil {
			t.Errorf("CSI refusal logged as %v; want a warning of component csi with the remote address and the error", r)
		}
	}

	// SIGHUP: a new certificate for the next handshakes on both.
	if got := serverSerial(t, strings.TrimPrefix(d.base, "https://"), f.clientTLS(f.restClient)); got != 0x1001 {
		t.Fatalf("REST serial %x, want 1001", got)
	}
	f.setServer(t, 0x1002)
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	recs := waitRecords(t, d, "tls: SIGHUP: certificates reloaded", 1)
	if recs[0]["serial"] != "1002" {
		t.Errorf("reload logged serial %v, want 1002", recs[0]["serial"])
	}
	if got := serverSerial(t, strings.TrimPrefix(d.base, "https://"), f.clientTLS(f.restClient)); got != 0x1002 {
		t.Errorf("REST serial after SIGHUP %x, want 1002", got)
	}
	if got := serverSerial(t, csiAddr, f.clientTLS(f.csiClient, "h2")); got != 0x1002 {
		t.Errorf("CSI serial after SIGHUP %x, want 1002", got)
	}
	if err := csiCall(csiAddr, credentials.NewTLS(f.clientTLS(f.csiClient))); err != nil {
		t.Errorf("CSI after SIGHUP: %v", err)
	}

	// A broken reload keeps the previous certificate, and the daemon runs.
	writePEM(t, f.cert, []byte("not a certificate\n"))
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	recs = waitRecords(t, d, "tls: SIGHUP: reloading the certificates failed; still serving the previous ones", 1)
	if recs[0]["level"] != "error" || recs[0]["serial"] != "1002" || !strings.Contains(fmt.Sprint(recs[0]["error"]), "--tls-cert") {
		t.Errorf("failed reload logged %v; want level error, serial 1002 and an error naming --tls-cert", recs[0])
	}
	if st, err := getStatus(withCert, d.base+"/v1/hosts", d.token); err != nil || st != http.StatusOK {
		t.Errorf("GET /v1/hosts after a failed reload: %d, %v; want 200", st, err)
	}
	if got := serverSerial(t, csiAddr, f.clientTLS(f.csiClient, "h2")); got != 0x1002 {
		t.Errorf("CSI serial after a failed reload %x, want 1002", got)
	}
}

// TestTLSServerOnlyE2E: HTTPS without client certificates, and a tcp://
// CSI endpoint without TLS, which must be asked for and is warned about.
func TestTLSServerOnlyE2E(t *testing.T) {
	t.Parallel()
	f := newTLSFiles(t)
	c := f.httpClient(nil)
	d := startTLSDaemon(t, t.TempDir(), c, "--tls-cert", f.cert, "--tls-key", f.key,
		"--csi-endpoint", "tcp://127.0.0.1:0", "--csi-insecure-tcp")
	if st, err := getStatus(c, d.base+"/v1/hosts", d.token); err != nil || st != http.StatusOK {
		t.Errorf("GET /v1/hosts over HTTPS: %d, %v; want 200", st, err)
	}
	// Plain HTTP to the HTTPS port is not served.
	if st, err := getStatus(&http.Client{Timeout: 10 * time.Second}, "http"+strings.TrimPrefix(d.base, "https")+"/v1/hosts", d.token); err == nil && st == http.StatusOK {
		t.Errorf("plain HTTP to the HTTPS port: 200")
	}
	if got := servingField(t, d, "restTLS") + " " + servingField(t, d, "csiTLS"); got != "on insecure" {
		t.Errorf("serving line says restTLS, csiTLS = %s, want on insecure", got)
	}
	warn := d.log.records("--csi-insecure-tcp: the CSI endpoint accepts anyone who can reach it, without TLS or client certificates, and every caller can create, attach and delete volumes past the REST API's roles")
	if len(warn) != 1 || warn[0]["level"] != "warning" {
		t.Errorf("want one warning about --csi-insecure-tcp, got %v", warn)
	}
	if err := csiCall(servingField(t, d, "csiAddr"), insecure.NewCredentials()); err != nil {
		t.Errorf("CSI in plaintext with --csi-insecure-tcp: %v", err)
	}
}

// TestTLSRefusedE2E: the binary will not serve CSI on TCP unprotected
// unless told to, and says what to pass.
func TestTLSRefusedE2E(t *testing.T) {
	t.Parallel()
	bin := daemonBin(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--csi-endpoint", "tcp://127.0.0.1:0").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("sanmobd with a tcp:// CSI endpoint and no TLS: %v, want exit status 2:\n%s", err, out)
	}
	for _, w := range []string{"--csi-endpoint tcp://127.0.0.1:0", "mutual TLS", "--tls-cert", "--tls-key", "--csi-client-ca", "--csi-insecure-tcp"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("the message does not say %q:\n%s", w, out)
		}
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused start created the data dir (%v)", err)
	}
}

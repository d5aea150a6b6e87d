package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// rewrite writes content to path and moves its modification time on, so
// that a change shows even on a file system with coarse timestamps.
func rewrite(t *testing.T, path, content string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// A token file rotated under a running client (a Kubernetes secret
// updated) is sent from the next request on; an empty or missing file
// keeps the last token.
func TestTokenFileReadAgainWhenChanged(t *testing.T) {
	var got atomic.Value
	c0 := newTest(t, func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusNoContent)
	})
	tf := filepath.Join(t.TempDir(), "token")
	base := time.Now().Add(-time.Hour)
	rewrite(t, tf, "one\n", base)
	c, err := New(c0.BaseURL(), WithTokenFile(tf), WithMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	step := func(want string) {
		t.Helper()
		if err := c.DeleteClaim(context.Background(), "d", "vol/node"); err != nil {
			t.Fatal(err)
		}
		if g := got.Load(); g != want {
			t.Errorf("Authorization %v, want %q", g, want)
		}
	}
	step("Bearer one")
	rewrite(t, tf, "two\n", base.Add(time.Minute))
	step("Bearer two")
	rewrite(t, tf, "  \n", base.Add(2*time.Minute)) // half written
	step("Bearer two")
	if err := os.Remove(tf); err != nil {
		t.Fatal(err)
	}
	step("Bearer two")
	rewrite(t, tf, "three", base.Add(3*time.Minute))
	step("Bearer three")

	// WithToken after WithTokenFile wins, and is not replaced by the file.
	c, err = New(c0.BaseURL(), WithTokenFile(tf), WithToken("fixed"))
	if err != nil {
		t.Fatal(err)
	}
	rewrite(t, tf, "four", base.Add(4*time.Minute))
	if err := c.DeleteClaim(context.Background(), "d", "vol/node"); err != nil || got.Load() != "Bearer fixed" {
		t.Errorf("err %v, Authorization %v", err, got.Load())
	}
}

// testCA makes certificates for an mTLS test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

// clientPEM returns a client certificate for cn and its key, in PEM.
func (ca *testCA) clientPEM(t *testing.T, cn string, serial int64) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}

// A client certificate renewed under a running client (cert-manager) is
// presented on the next connection; a key that does not match yet (the
// certificate written first) keeps the old pair.
func TestClientCertReadAgainWhenChanged(t *testing.T) {
	ca := newTestCA(t)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"items":[{"id":%q}]}`, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.Config.SetKeepAlivesEnabled(false) // a new handshake for every request
	srv.StartTLS()
	defer srv.Close()

	dir := t.TempDir()
	caFile, certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writePEM(t, caFile, srv.Certificate().Raw)
	base := time.Now().Add(-time.Hour)
	cert1, key1 := ca.clientPEM(t, "driver-1", 2)
	rewrite(t, certFile, cert1, base)
	rewrite(t, keyFile, key1, base)
	c, err := New(srv.URL, WithCAFile(caFile), WithClientCert(certFile, keyFile), WithMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	step := func(want string) {
		t.Helper()
		sites, err := c.ListSites(context.Background())
		if err != nil || len(sites) != 1 || sites[0].ID != want {
			t.Fatalf("sites %v err %v: want the server to see %s", sites, err, want)
		}
	}
	step("driver-1")
	cert2, key2 := ca.clientPEM(t, "driver-2", 3)
	rewrite(t, certFile, cert2, base.Add(time.Minute)) // the key is not there yet
	step("driver-1")
	rewrite(t, keyFile, key2, base.Add(time.Minute))
	step("driver-2")
}

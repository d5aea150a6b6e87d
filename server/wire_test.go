package server_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/sanmob/sanmob/server"
)

// countingListener counts the writes on the connections it accepts.
type countingListener struct {
	net.Listener
	writes *atomic.Int32
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.writes}, nil
}

type countingConn struct {
	net.Conn
	writes *atomic.Int32
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestAnswersLeaveInOneWrite sends requests one after the other on one
// keep-alive connection and checks that each answer, larger than net/http's
// 4 KiB connection buffer or not, left in one write and is byte for byte the
// answer of the handler alone.
func TestAnswersLeaveInOneWrite(t *testing.T) {
	h := newHarness(t)
	var writes atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h.srv.Handler(), ConnContext: server.ConnContext}
	go func() { _ = srv.Serve(server.Listener(countingListener{ln, &writes})) }()
	t.Cleanup(func() { _ = srv.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	token := roleTokens[server.RoleAdmin]
	tests := []struct {
		method, path string
		status, min  int // min: the body is at least this long
	}{
		{"GET", "/v1/vms/east-vm001/topology", 200, 4 << 10},
		{"GET", "/healthz", 200, 1},
		{"GET", "/v1/vms", 200, 8 << 10},
		{"HEAD", "/v1/vms/east-vm001/topology", 200, 0},
		{"GET", "/v1/vms/nope/topology", 404, 1},
		{"GET", "/v1/vms/west-vm012/topology", 200, 4 << 10},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(tt.method, tt.path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.srv.Handler().ServeHTTP(rec, req)

		before := writes.Load()
		if _, err := fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: sanmob\r\nAuthorization: Bearer %s\r\n\r\n", tt.method, tt.path, token); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: tt.method})
		if err != nil {
			t.Fatalf("%s %s: %v", tt.method, tt.path, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if n := writes.Load() - before; n != 1 {
			t.Errorf("%s %s (%d bytes): %d writes, want 1", tt.method, tt.path, len(body), n)
		}
		if resp.StatusCode != tt.status || len(body) < tt.min {
			t.Fatalf("%s %s: status %d, %d bytes; want %d, at least %d", tt.method, tt.path, resp.StatusCode, len(body), tt.status, tt.min)
		}
		if tt.method == "GET" && !bytes.Equal(body, rec.Body.Bytes()) {
			t.Errorf("%s %s: body differs from the handler's own:\n got %.200s\nwant %.200s", tt.method, tt.path, body, rec.Body.Bytes())
		}
		if resp.ContentLength >= 0 && tt.method == "GET" && resp.ContentLength != int64(len(body)) {
			t.Errorf("%s %s: Content-Length %d, body %d", tt.method, tt.path, resp.ContentLength, len(body))
		}
	}
}

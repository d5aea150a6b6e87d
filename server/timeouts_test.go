package server_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanmob/sanmob/server"
)

// smallBufListener gives every accepted connection a small send buffer, so
// that a client that does not read blocks the server's writes after a few
// KB instead of the megabytes loopback autotuning allows.
type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4 << 10)
	}
	return c, err
}

// timeoutServer serves h's API as cmd/sanmobd does, over small send
// buffers, with the given WriteTimeout; closed reports each connection the
// server closes.
func timeoutServer(t *testing.T, h *harness, writeTimeout time.Duration) (ts *httptest.Server, closed <-chan struct{}) {
	t.Helper()
	ch := make(chan struct{}, 16)
	ts = httptest.NewUnstartedServer(h.srv.Handler())
	ts.Listener = server.Listener(smallBufListener{ts.Listener})
	ts.Config.ConnContext = server.ConnContext
	ts.Config.WriteTimeout = writeTimeout
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			ch <- struct{}{}
		}
	}
	ts.Start()
	t.Cleanup(ts.Close)
	return ts, ch
}

// dialNoRead connects to ts with a small receive buffer; the caller writes
// requests and never reads.
func dialNoRead(t *testing.T, ts *httptest.Server) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10) })
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.DialContext(context.Background(), "tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func rawGet(path string) string {
	return fmt.Sprintf("GET %s HTTP/1.1\r\nHost: sanmob\r\nAuthorization: Bearer %s\r\n\r\n", path, roleTokens[server.RoleAdmin])
}

// TestWriteTimeoutCutsPipelinedNonReader: a client that pipelines requests
// for a large list and never reads the answers is disconnected once the
// server's WriteTimeout (server.WriteTimeout in the daemon) passes, instead
// of holding the connection and its send buffers forever.
func TestWriteTimeoutCutsPipelinedNonReader(t *testing.T) {
	if server.WriteTimeout <= 0 || server.WriteTimeout > 5*time.Minute {
		t.Fatalf("server.WriteTimeout %v: want a bound of a minute or so", server.WriteTimeout)
	}
	h := newHarness(t)
	ts, closed := timeoutServer(t, h, 300*time.Millisecond)
	c := dialNoRead(t, ts)
	go func() {
		w := bufio.NewWriter(c)
		for range 400 {
			_, _ = w.WriteString(rawGet("/v1/volumes"))
		}
		_ = w.Flush()
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatalf("a client that never reads still holds its connection 10 s after a 300 ms write timeout")
	}
}

// TestSSEOutlivesWriteTimeout: an event stream lifts the server's
// WriteTimeout for itself: a client that reads keeps getting heartbeats
// long after it.
func TestSSEOutlivesWriteTimeout(t *testing.T) {
	defer server.SetSSEHeartbeat(20 * time.Millisecond)()
	h := newHarness(t)
	ts, _ := timeoutServer(t, h, 200*time.Millisecond)
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/v1/alerts/stream", nil)
	req.Header.Set("Authorization", "Bearer "+roleTokens[server.RoleAdmin])
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream status %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	start := time.Now()
	beats := 0
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), ": heartbeat") {
			beats++
		}
		if time.Since(start) > 800*time.Millisecond && beats > 0 {
			return
		}
	}
	t.Fatalf("the stream ended after %v (%d heartbeats): %v; want it to outlive the 200 ms write timeout", time.Since(start), beats, sc.Err())
}

// TestSSECutsNonReader: a stream's client that stops reading is cut off
// once a write has waited sseWriteTimeout, even with no server-wide
// WriteTimeout: the stream does not hold its handler and buffers forever.
func TestSSECutsNonReader(t *testing.T) {
	defer server.SetSSEHeartbeat(100 * time.Microsecond)()
	defer server.SetSSEWriteTimeout(300 * time.Millisecond)()
	h := newHarness(t)
	ts, closed := timeoutServer(t, h, 0)
	c := dialNoRead(t, ts)
	if _, err := c.Write([]byte(rawGet("/v1/alerts/stream"))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatalf("a stream's client that never reads still holds its connection after 10 s (write timeout 300 ms)")
	}
}

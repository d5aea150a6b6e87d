package server

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
)

// net/http writes a response through a 4 KiB buffer on the connection: an
// answer larger than that (a VM's topology is ~5.6 KB) leaves in two write
// calls, and over loopback or a LAN the second one costs as much as the
// first — a syscall, a segment, and often a second wakeup of the client,
// which read the first part and found it incomplete. A wireConn lets
// writeJSON send the header and a large body in one write instead.
//
// The mechanism: writeJSON marks the connection (hold), then copies the body
// with io.Copy, which net/http turns into a write of the header and the
// body's first 512 bytes (held here, not sent) followed by ReadFrom of the
// rest, which sends held bytes and body together. writeJSON ends the hold
// after the copy, so nothing stays held once the handler returns whatever
// path net/http took (HEAD, a chunked answer, a hijacked connection).

// heldMax bounds the buffer a connection keeps between answers.
const heldMax = 64 << 10

type wireConn struct {
	net.Conn
	hold bool   // the next Write is held
	held []byte // written, not yet sent
	buf  []byte // reused for held
}

// Listener wraps every connection l accepts so that its answers can be
// sent in one write; serve with ConnContext set to this package's.
func Listener(l net.Listener) net.Listener { return wireListener{l} }

// ConnContext is for http.Server.ConnContext: it makes the connection
// known to the handlers.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if wc, ok := c.(*wireConn); ok {
		return context.WithValue(ctx, wireKey{}, wc)
	}
	return ctx
}

type wireKey struct{}

func wireFrom(ctx context.Context) *wireConn {
	wc, _ := ctx.Value(wireKey{}).(*wireConn)
	return wc
}

type wireListener struct{ net.Listener }

func (l wireListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &wireConn{Conn: c}, nil
}

func (c *wireConn) Write(p []byte) (int, error) {
	switch {
	case c.held != nil:
		c.held = append(c.held, p...)
		return len(p), c.send()
	case c.hold:
		c.hold = false
		c.held = append(c.buf[:0], p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// ReadFrom is what net/http calls for the body after the header when the
// handler copies it from a reader: held bytes and the body leave together.
func (c *wireConn) ReadFrom(r io.Reader) (int64, error) {
	if c.held == nil {
		return io.Copy(c.Conn, r)
	}
	before := len(c.held)
	buf := bytes.NewBuffer(c.held)
	n, err := buf.ReadFrom(r)
	c.held = buf.Bytes()
	if err != nil {
		c.drop()
		return n, err
	}
	sent, err := c.sendN()
	if err != nil {
		// Say how much of the body really left: net/http compares it with
		// the Content-Length and closes the connection when they differ —
		// a write that failed (a client that does not read, past the
		// WriteTimeout) must not leave the connection open for the next
		// pipelined request with half an answer on the wire.
		return int64(max(0, sent-before)), err
	}
	return n, nil
}

// send writes the held bytes and forgets them.
func (c *wireConn) send() error {
	_, err := c.sendN()
	return err
}

// sendN is send, saying how many of the held bytes were written.
func (c *wireConn) sendN() (int, error) {
	n, err := c.Conn.Write(c.held)
	c.drop()
	return n, err
}

func (c *wireConn) drop() {
	if cap(c.held) <= heldMax {
		c.buf = c.held[:0]
	}
	c.held = nil
}

// CloseWrite keeps the TCP half-close net/http uses when it ends a
// connection after an error.
func (c *wireConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// release ends a hold, sending whatever is still held.
func (c *wireConn) release() {
	c.hold = false
	if c.held != nil {
		_ = c.send()
	}
}

// writeBody writes b as the whole body of a response whose header is set,
// in one write on the connection when b is larger than net/http's buffer.
func writeBody(w http.ResponseWriter, b []byte) {
	rec, _ := w.(*statusRecorder)
	if rec == nil || rec.wire == nil || len(b) <= wireMin {
		_, _ = w.Write(b)
		return
	}
	rec.wire.hold = true
	defer rec.wire.release() // even if the copy panics: nothing may stay held
	_, _ = io.Copy(rec, &bodyReader{b: b})
}

// wireMin is the body size up to which header and body fit net/http's
// connection buffer anyway.
const wireMin = 3 << 10

// bodyReader is a bytes.Reader without WriterTo, so io.Copy goes through
// the response's ReadFrom.
type bodyReader struct{ b []byte }

func (r *bodyReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

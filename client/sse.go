package client

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
)

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	ID    string
	Event string
	Data  string
}

// readSSE reads events from r and calls fn for each, until r ends, fn
// returns false or ctx ends. Comment lines (heartbeats) are skipped.
func readSSE(ctx context.Context, r io.Reader, fn func(sseEvent) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	var ev sseEvent
	var data []string
	for sc.Scan() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		line := sc.Text()
		if line == "" {
			if len(data) > 0 || ev.Event != "" {
				ev.Data = strings.Join(data, "\n")
				if ev.Event == "" {
					ev.Event = "message"
				}
				if !fn(ev) {
					return nil
				}
			}
			ev, data = sseEvent{}, nil
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.Event = value
		case "data":
			data = append(data, value)
		case "id":
			ev.ID = value
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// Stream is a running event stream. Read Events until it is closed; then
// Err says why it ended (nil when the daemon ended it, as it does after a
// migration's last event). Close stops it early.
type Stream[E any] struct {
	events chan E
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Events delivers the stream's events; it is closed when the stream ends.
func (s *Stream[E]) Events() <-chan E { return s.events }

// Err is why the stream ended; call it after Events is closed.
func (s *Stream[E]) Err() error {
	<-s.done
	return s.err
}

// Close stops the stream and waits for it to end.
func (s *Stream[E]) Close() {
	s.cancel()
	<-s.done
}

// stream opens an SSE request and decodes its events with decode (which
// returns false to skip one) until it ends.
func stream[E any](ctx context.Context, c *Client, r request, decode func(sseEvent) (E, bool, error)) (*Stream[E], error) {
	ctx, cancel := context.WithCancel(ctx)
	r.accept = "text/event-stream"
	resp, err := c.send(ctx, r)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &Stream[E]{events: make(chan E, 16), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer close(s.events)
		defer resp.Body.Close()
		// The body read does not watch ctx by itself on every transport:
		// close the body when ctx ends, so the read returns.
		stop := context.AfterFunc(ctx, func() { resp.Body.Close() })
		defer stop()
		err := readSSE(ctx, resp.Body, func(ev sseEvent) bool {
			e, ok, derr := decode(ev)
			if derr != nil {
				s.err = derr
				return false
			}
			if !ok {
				return true
			}
			select {
			case s.events <- e:
				return true
			case <-ctx.Done():
				return false
			}
		})
		if s.err == nil {
			if ctx.Err() != nil {
				s.err = ctx.Err()
			} else {
				s.err = err
			}
		}
		cancel()
	}()
	return s, nil
}

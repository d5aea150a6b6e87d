package main

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	"github.com/sirupsen/logrus"
)

func quietLogger() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// waits is a runnable without a run: each case makes it one that ends with
// its context and counts in the case's counter.
func waits(name string) runnable { return runnable{name: name} }

func TestRunRunnables(t *testing.T) {
	boom := errors.New("boom")
	failing := func(name string) runnable {
		return runnable{name: name, run: func(context.Context) error { return boom }}
	}
	// afterCancel fails only once its context ends: a shutdown cut short.
	afterCancel := runnable{name: "late", run: func(ctx context.Context) error {
		<-ctx.Done()
		return errors.New("shutdown cut short")
	}}
	noStart := func(context.Context) error { return nil }
	for _, tc := range []struct {
		name      string
		serving   []runnable
		start     func(context.Context) error
		started   []runnable
		cancel    bool // the caller's context ends
		want      error
		wantEnded int32 // waits runnables that ran and ended
	}{
		{name: "all end with the context", cancel: true, start: noStart,
			serving: []runnable{waits("a"), waits("b")}, started: []runnable{waits("c")}, wantEnded: 3},
		{name: "a serving failure stops the rest", start: noStart,
			serving: []runnable{waits("a"), failing("b")}, want: boom, wantEnded: 1},
		{name: "a started failure stops the rest", start: noStart,
			serving: []runnable{waits("a")}, started: []runnable{failing("c")}, want: boom, wantEnded: 1},
		{name: "a failed start runs nothing after it", start: func(context.Context) error { return boom },
			serving: []runnable{waits("a")}, started: []runnable{waits("c")}, want: boom, wantEnded: 1},
		{name: "errors after the context ended are not failures", cancel: true, start: noStart,
			serving: []runnable{afterCancel, waits("a")}, wantEnded: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ended atomic.Int32
			bind := func(rs []runnable) []runnable {
				out := make([]runnable, len(rs))
				for i, r := range rs {
					if r.run == nil {
						r.run = func(ctx context.Context) error {
							<-ctx.Done()
							ended.Add(1)
							return nil
						}
					}
					out[i] = r
				}
				return out
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				cancel()
			}
			err := runRunnables(ctx, quietLogger(), bind(tc.serving), tc.start, bind(tc.started))
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("runRunnables = %v, want %v", err, tc.want)
			}
			if tc.want != nil && ctx.Err() != nil {
				t.Fatal("a failure must not cancel the caller's context")
			}
			if ended.Load() != tc.wantEnded {
				t.Fatalf("%d runnables ended, want %d", ended.Load(), tc.wantEnded)
			}
		})
	}
}

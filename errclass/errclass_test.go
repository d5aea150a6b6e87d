package errclass

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestOf(t *testing.T) {
	busy := New(Transient, "busy")
	gone := New(NotFound, "gone")
	refused := New(Final, "refused")
	tests := []struct {
		name string
		err  error
		want Class
	}{
		{"nil", nil, Final},
		{"plain error", errors.New("x"), Final},
		{"transient sentinel", busy, Transient},
		{"wrapped transient", fmt.Errorf("switch says 'fabric busy': %w", busy), Transient},
		{"not found", fmt.Errorf("vol1: %w", gone), NotFound},
		{"final", fmt.Errorf("a: %w", refused), Final},
		{"deadline", fmt.Errorf("call: %w", context.DeadlineExceeded), Transient},
		{"canceled", context.Canceled, Transient},
		{"outermost wins", Wrap(Final, fmt.Errorf("x: %w", busy)), Final},
		{"wrap keeps chain", Wrap(Transient, fmt.Errorf("x: %w", refused)), Transient},
		{"joined takes first classed", errors.Join(errors.New("plain"), gone), NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Of(tt.err); got != tt.want {
				t.Fatalf("Of(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
	if !errors.Is(Wrap(Transient, fmt.Errorf("x: %w", refused)), refused) {
		t.Fatal("Wrap lost the chain")
	}
	if Wrap(Final, nil) != nil {
		t.Fatal("Wrap(nil) is not nil")
	}
	if IsTransient(nil) || IsFinal(nil) || IsNotFound(nil) {
		t.Fatal("nil has no class")
	}
	for c, s := range map[Class]string{Final: "final", Transient: "transient", NotFound: "not-found"} {
		if c.String() != s {
			t.Fatalf("%d.String() = %q", c, c.String())
		}
	}
}

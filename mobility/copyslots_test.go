package mobility

import (
	"context"
	"testing"
	"time"
)

// TestCopySlots: at most limit groups copy over a link at once; a group
// takes its slot once however often it asks, and a release lets the next
// waiter in; other links are not counted.
func TestCopySlots(t *testing.T) {
	c := newCopySlots()
	ctx := context.Background()
	for _, g := range []string{"g1", "g2", "g1"} {
		if err := c.acquire(ctx, "east-west", g, 2); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.acquire(ctx, "east-north", "g9", 2); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- c.acquire(ctx, "east-west", "g3", 2) }()
	select {
	case err := <-got:
		t.Fatalf("a third copy on a link of two took a slot: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	c.release("g9") // another link's: no room here
	c.release("g1")
	c.release("g1") // twice: a no-op
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a release did not let the waiter in")
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := c.acquire(short, "east-west", "g4", 2); err == nil {
		t.Fatal("a fourth copy took a slot while two hold them")
	}
	if c.count["east-west"] != 2 {
		t.Fatalf("%d slots held on east-west, want 2", c.count["east-west"])
	}
}

package store

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The kill -9 test re-executes this test binary as a child that writes
// records and prints each id once its write is acknowledged; the parent
// kills it mid-stream and checks that every acknowledged record survived.
const (
	childDirEnv  = "SANMOB_STORE_CHILD"
	childModeEnv = "SANMOB_STORE_CHILD_MODE"
	childBatch   = 25 // records per Flush in batch mode
)

type killRec struct {
	ID  string `json:"id"`
	Seq int    `json:"seq"`
	Pad string `json:"pad"`
}

func killValue(i int) killRec {
	return killRec{ID: killID(i), Seq: i, Pad: strings.Repeat("p", 64+i%128)}
}

func killID(i int) string { return fmt.Sprintf("r%08d", i) }

func TestKill9Durability(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	const wantAcks = 200
	for _, mode := range []string{"put", "batch"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestKill9Child$", "-test.count=1")
			cmd.Env = append(os.Environ(), childDirEnv+"="+dir, childModeEnv+"="+mode)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}

			acks := make(chan string)
			go func() {
				defer close(acks)
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					if id, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
						acks <- id
					}
				}
			}()
			var acked []string
			timeout := time.After(2 * time.Minute)
		read:
			for len(acked) < wantAcks {
				select {
				case id, ok := <-acks:
					if !ok {
						break read
					}
					acked = append(acked, id)
				case <-timeout:
					break read
				}
			}
			// SIGKILL: no deferred Close, no flush, no chance to tidy up.
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			for range acks { // drain so the reader can finish before Wait closes the pipe
			}
			waitErr := cmd.Wait()
			if len(acked) < wantAcks {
				t.Fatalf("child acknowledged %d records, want %d (wait: %v)\nstderr:\n%s", len(acked), wantAcks, waitErr, stderr.String())
			}

			s := openTest(t, dir)
			for _, id := range acked {
				var got killRec
				if err := s.Get("rec", id, &got); err != nil {
					t.Fatalf("acknowledged record %s lost after kill -9: %v", id, err)
				}
				if want := killValue(got.Seq); got != want || got.ID != id {
					t.Fatalf("record %s = %+v after kill -9, want %+v", id, got, want)
				}
			}
			n, err := s.Count("rec")
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d acknowledged before kill, %d present after reopen", mode, len(acked), n)
		})
	}
}

// TestKill9Child is the child half of TestKill9Durability; it does nothing
// in a normal run.
func TestKill9Child(t *testing.T) {
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		t.Skip("helper process for TestKill9Durability")
	}
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	batch := os.Getenv(childModeEnv) == "batch"
	b := s.Batch()
	// Write until killed; the bound only stops a child orphaned by a dead parent.
	for i := range 1_000_000 {
		if !batch {
			if err := s.Put("rec", killID(i), killValue(i)); err != nil {
				t.Fatal(err)
			}
			fmt.Printf("ack %s\n", killID(i))
			continue
		}
		if err := b.Put("rec", killID(i), killValue(i)); err != nil {
			t.Fatal(err)
		}
		if (i+1)%childBatch == 0 {
			if err := b.Flush(); err != nil {
				t.Fatal(err)
			}
			for j := i + 1 - childBatch; j <= i; j++ {
				fmt.Printf("ack %s\n", killID(j))
			}
		}
	}
}

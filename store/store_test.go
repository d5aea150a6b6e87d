package store

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

type rec struct {
	Name string `json:"name"`
	Size int    `json:"size"`
}

func openTest(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestCRUD(t *testing.T) {
	type op struct {
		do      string // get, put, create, delete
		id      string
		val     rec
		want    rec // for get
		wantErr error
	}
	a, b := rec{"a", 1}, rec{"b", 2}
	tests := []struct {
		name string
		ops  []op
	}{
		{"get absent", []op{{do: "get", id: "x", wantErr: ErrNotFound}}},
		{"put then get", []op{{do: "put", id: "x", val: a}, {do: "get", id: "x", want: a}}},
		{"put overwrites", []op{{do: "put", id: "x", val: a}, {do: "put", id: "x", val: b}, {do: "get", id: "x", want: b}}},
		{"create new", []op{{do: "create", id: "x", val: a}, {do: "get", id: "x", want: a}}},
		{"create existing conflicts and keeps value", []op{
			{do: "put", id: "x", val: a},
			{do: "create", id: "x", val: b, wantErr: ErrConflict},
			{do: "get", id: "x", want: a},
		}},
		{"create after delete", []op{
			{do: "create", id: "x", val: a}, {do: "delete", id: "x"},
			{do: "create", id: "x", val: b}, {do: "get", id: "x", want: b},
		}},
		{"delete existing", []op{{do: "put", id: "x", val: a}, {do: "delete", id: "x"}, {do: "get", id: "x", wantErr: ErrNotFound}}},
		{"delete absent is idempotent", []op{{do: "delete", id: "x"}, {do: "delete", id: "x"}}},
		{"ids may contain slashes", []op{{do: "put", id: "a/b", val: a}, {do: "get", id: "a/b", want: a}, {do: "get", id: "a", wantErr: ErrNotFound}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t, t.TempDir())
			for i, o := range tt.ops {
				var err error
				var got rec
				switch o.do {
				case "get":
					err = s.Get("vm", o.id, &got)
				case "put":
					err = s.Put("vm", o.id, o.val)
				case "create":
					err = s.Create("vm", o.id, o.val)
				case "delete":
					err = s.Delete("vm", o.id)
				}
				if !errors.Is(err, o.wantErr) || (o.wantErr == nil && err != nil) {
					t.Fatalf("op %d %s(%q): err = %v, want %v", i, o.do, o.id, err, o.wantErr)
				}
				if o.do == "get" && err == nil && got != o.want {
					t.Fatalf("op %d get(%q) = %+v, want %+v", i, o.id, got, o.want)
				}
			}
		})
	}
}

func TestListOrderAndPrefixIsolation(t *testing.T) {
	s := openTest(t, t.TempDir())
	data := map[string][]string{
		"vm":  {"m", "a", "z", "b/1", "b", "0"},
		"vmx": {"a", "q"},
		"v":   {"a"},
	}
	for kind, ids := range data {
		for _, id := range ids {
			if err := s.Put(kind, id, rec{Name: kind + ":" + id}); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		kind string
		want []string
	}{
		{"vm", []string{"0", "a", "b", "b/1", "m", "z"}},
		{"vmx", []string{"a", "q"}},
		{"v", []string{"a"}},
		{"host", nil},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			var got []string
			err := s.List(tt.kind, func(id string, raw []byte) error {
				if want := fmt.Sprintf(`{"name":%q,"size":0}`, tt.kind+":"+id); string(raw) != want {
					t.Errorf("raw for %q = %s, want %s", id, raw, want)
				}
				got = append(got, id)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("List(%q) = %q, want %q", tt.kind, got, tt.want)
			}
			n, err := s.Count(tt.kind)
			if err != nil || n != len(tt.want) {
				t.Errorf("Count(%q) = %d, %v; want %d", tt.kind, n, err, len(tt.want))
			}
		})
	}
}

func TestListStopsOnCallbackError(t *testing.T) {
	s := openTest(t, t.TempDir())
	for _, id := range []string{"a", "b", "c"} {
		if err := s.Put("vm", id, rec{}); err != nil {
			t.Fatal(err)
		}
	}
	stop := errors.New("stop")
	var seen []string
	err := s.List("vm", func(id string, _ []byte) error {
		seen = append(seen, id)
		if id == "b" {
			return stop
		}
		return nil
	})
	if err != stop || !slices.Equal(seen, []string{"a", "b"}) {
		t.Fatalf("List = %v after %q; want the callback's error after [a b]", err, seen)
	}
}

func TestUpdate(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		fn      func(tx *Tx) error
		wantErr error
		want    []string // ids of kind vm afterwards; "seed" exists before
	}{
		{
			name: "commit",
			fn: func(tx *Tx) error {
				if err := tx.Put("vm", "a", rec{Name: "a"}); err != nil {
					return err
				}
				return tx.Delete("vm", "seed")
			},
			want: []string{"a"},
		},
		{
			name: "rollback when fn fails",
			fn: func(tx *Tx) error {
				if err := tx.Put("vm", "a", rec{}); err != nil {
					return err
				}
				if err := tx.Delete("vm", "seed"); err != nil {
					return err
				}
				return boom
			},
			wantErr: boom,
			want:    []string{"seed"},
		},
		{
			name: "rollback when create conflicts",
			fn: func(tx *Tx) error {
				if err := tx.Put("vm", "a", rec{}); err != nil {
					return err
				}
				return tx.Create("vm", "seed", rec{})
			},
			wantErr: ErrConflict,
			want:    []string{"seed"},
		},
		{
			name: "reads see own writes",
			fn: func(tx *Tx) error {
				if err := tx.Put("vm", "a", rec{Name: "mine"}); err != nil {
					return err
				}
				var got rec
				if err := tx.Get("vm", "a", &got); err != nil || got.Name != "mine" {
					return fmt.Errorf("Get in tx = %+v, %v", got, err)
				}
				var ids []string
				if err := tx.List("vm", func(id string, _ []byte) error { ids = append(ids, id); return nil }); err != nil {
					return err
				}
				if !slices.Equal(ids, []string{"a", "seed"}) {
					return fmt.Errorf("List in tx = %q", ids)
				}
				if n, err := tx.Count("vm"); err != nil || n != 2 {
					return fmt.Errorf("Count in tx = %d, %v", n, err)
				}
				return nil
			},
			want: []string{"a", "seed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t, t.TempDir())
			if err := s.Put("vm", "seed", rec{}); err != nil {
				t.Fatal(err)
			}
			if err := s.Update(tt.fn); !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Update = %v, want %v", err, tt.wantErr)
			}
			if got := ids(t, s, "vm"); !slices.Equal(got, tt.want) {
				t.Errorf("after Update ids = %q, want %q", got, tt.want)
			}
		})
	}
}

func ids(t *testing.T, s *Store, kind string) []string {
	t.Helper()
	var out []string
	if err := s.List(kind, func(id string, _ []byte) error { out = append(out, id); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestUpdateRetriesConflicts makes another writer commit to a key the
// transaction has read, between its read and its commit.
func TestUpdateRetriesConflicts(t *testing.T) {
	tests := []struct {
		name      string
		races     int // attempts during which a concurrent write lands
		wantErr   error
		wantCalls int
	}{
		{"one lost race is retried", 1, nil, 2},
		{"persistent races give up", updateAttempts, ErrConflict, updateAttempts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t, t.TempDir())
			if err := s.Put("ctr", "n", 0); err != nil {
				t.Fatal(err)
			}
			calls := 0
			err := s.Update(func(tx *Tx) error {
				calls++
				var n int
				if err := tx.Get("ctr", "n", &n); err != nil {
					return err
				}
				if calls <= tt.races {
					if err := s.Put("ctr", "n", 100); err != nil {
						return err
					}
				}
				return tx.Put("ctr", "n", n+1)
			})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Update = %v, want %v", err, tt.wantErr)
			}
			if errors.Is(err, badger.ErrConflict) != (tt.wantErr != nil) {
				t.Errorf("Update error %v should keep badger's cause", err)
			}
			if calls != tt.wantCalls {
				t.Errorf("fn ran %d times, want %d", calls, tt.wantCalls)
			}
			var n int
			if err := s.Get("ctr", "n", &n); err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 101, false: 100}[tt.wantErr == nil]; n != want {
				t.Errorf("counter = %d, want %d", n, want)
			}
		})
	}
}

func TestConcurrentCreateHasOneWinner(t *testing.T) {
	s := openTest(t, t.TempDir())
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = s.Create("vm", "x", rec{Size: i}) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrConflict):
			t.Errorf("Create: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d Creates succeeded, want 1", won)
	}
}

func TestUpdateTooBig(t *testing.T) {
	s := openTest(t, t.TempDir())
	big := rec{Name: strings.Repeat("x", 4<<10)}
	err := s.Update(func(tx *Tx) error {
		for i := range 10_000 {
			// Drop the error on purpose: Update must still refuse to commit.
			_ = tx.Put("blob", fmt.Sprint(i), big)
		}
		return nil
	})
	if !errors.Is(err, ErrTooBig) || !errors.Is(err, badger.ErrTxnTooBig) {
		t.Fatalf("Update = %v, want ErrTooBig", err)
	}
	if n, err := s.Count("blob"); err != nil || n != 0 {
		t.Fatalf("Count after failed Update = %d, %v; want 0", n, err)
	}
}

func TestViewRejectsWrites(t *testing.T) {
	s := openTest(t, t.TempDir())
	err := s.View(func(tx *Tx) error { return tx.Put("vm", "a", rec{}) })
	if !errors.Is(err, badger.ErrReadOnlyTxn) {
		t.Fatalf("Put in View = %v, want read-only error", err)
	}
}

func TestBatch(t *testing.T) {
	s := openTest(t, t.TempDir())
	b := s.Batch()
	const n = 20_000
	for i := range n {
		if err := b.Put("vm", fmt.Sprintf("%06d", i), rec{Size: i}); err != nil {
			t.Fatal(err)
		}
		if i == n/2 { // the batch is reusable after a Flush
			if err := b.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(); err != nil {
		t.Fatalf("empty Flush: %v", err)
	}
	if c, err := s.Count("vm"); err != nil || c != n {
		t.Fatalf("Count = %d, %v; want %d", c, err, n)
	}
	var got rec
	if err := s.Get("vm", "012345", &got); err != nil || got.Size != 12345 {
		t.Fatalf("Get = %+v, %v", got, err)
	}

	c := s.Batch()
	if err := c.Put("vm", "cancelled", rec{}); err != nil {
		t.Fatal(err)
	}
	c.Cancel()
	if err := s.Get("vm", "cancelled", &got); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Cancel = %v, want ErrNotFound", err)
	}
}

func TestReopenDurability(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	steps := []error{
		s.Put("vm", "kept", rec{Name: "kept", Size: 1}),
		s.Put("vm", "gone", rec{}),
		s.Delete("vm", "gone"),
		s.Create("host", "h1", rec{Name: "h1"}),
		s.Update(func(tx *Tx) error { return tx.Put("vm", "txn", rec{Name: "txn"}) }),
	}
	b := s.Batch()
	steps = append(steps, b.Put("lun", "l1", rec{Name: "l1"}), b.Flush(), s.Close())
	if err := errors.Join(steps...); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, dir)
	tests := []struct {
		kind, id string
		want     rec
		wantErr  error
	}{
		{"vm", "kept", rec{Name: "kept", Size: 1}, nil},
		{"vm", "gone", rec{}, ErrNotFound},
		{"host", "h1", rec{Name: "h1"}, nil},
		{"vm", "txn", rec{Name: "txn"}, nil},
		{"lun", "l1", rec{Name: "l1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.kind+"/"+tt.id, func(t *testing.T) {
			var got rec
			err := s.Get(tt.kind, tt.id, &got)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) || got != tt.want {
				t.Errorf("Get = %+v, %v; want %+v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if v, err := s.SchemaVersion(); err != nil || v != SchemaVersion {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, SchemaVersion)
	}
}

func TestSchemaVersion(t *testing.T) {
	tests := []struct {
		name    string
		stored  string // "" leaves the store fresh
		wantErr error
	}{
		{"fresh store is stamped", "", nil},
		{"same version opens", fmt.Sprint(SchemaVersion), nil},
		{"newer version is refused", fmt.Sprint(SchemaVersion + 1), ErrSchema},
		{"older version without migration is refused", fmt.Sprint(SchemaVersion - 1), ErrSchema},
		{"garbage is refused", "v1", ErrSchema},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.stored != "" {
				db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
				if err != nil {
					t.Fatal(err)
				}
				err = db.Update(func(txn *badger.Txn) error { return txn.Set(schemaKey, []byte(tt.stored)) })
				if err := errors.Join(err, db.Close()); err != nil {
					t.Fatal(err)
				}
			}
			s, err := Open(Options{Dir: dir})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Open = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				t.Logf("Open: %v", err)
				return
			}
			defer s.Close()
			if v, err := s.SchemaVersion(); err != nil || v != SchemaVersion {
				t.Errorf("SchemaVersion = %d, %v; want %d", v, err, SchemaVersion)
			}
		})
	}
}

func TestInvalidAddress(t *testing.T) {
	s := openTest(t, t.TempDir())
	tests := []struct {
		name, kind, id string
	}{
		{"empty kind", "", "a"},
		{"slash in kind", "vm/x", "a"},
		{"empty id", "vm", ""},
		{"NUL in id", "vm", "a\x00b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v rec
			calls := map[string]error{
				"Get":       s.Get(tt.kind, tt.id, &v),
				"Put":       s.Put(tt.kind, tt.id, rec{}),
				"Create":    s.Create(tt.kind, tt.id, rec{}),
				"Delete":    s.Delete(tt.kind, tt.id),
				"Batch.Put": s.Batch().Put(tt.kind, tt.id, rec{}),
			}
			if tt.id != "" && !strings.Contains(tt.id, "\x00") { // kind is the bad part
				calls["List"] = s.List(tt.kind, func(string, []byte) error { return nil })
				_, calls["Count"] = s.Count(tt.kind)
			}
			for name, err := range calls {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("%s(%q, %q) = %v, want ErrInvalid", name, tt.kind, tt.id, err)
				}
			}
		})
	}
	if _, err := Open(Options{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Open without Dir = %v, want ErrInvalid", err)
	}
}

func TestClosed(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	b := s.Batch()
	if err := errors.Join(b.Put("vm", "a", rec{}), s.Close()); err != nil {
		t.Fatal(err)
	}
	var v rec
	_, countErr := s.Count("vm")
	_, versionErr := s.SchemaVersion()
	for name, err := range map[string]error{
		"Get":           s.Get("vm", "a", &v),
		"Put":           s.Put("vm", "a", rec{}),
		"Create":        s.Create("vm", "a", rec{}),
		"Delete":        s.Delete("vm", "a"),
		"List":          s.List("vm", func(string, []byte) error { return nil }),
		"Count":         countErr,
		"SchemaVersion": versionErr,
		"View":          s.View(func(*Tx) error { return nil }),
		"Update":        s.Update(func(*Tx) error { return nil }),
		"Batch.Put":     b.Put("vm", "b", rec{}),
		"Batch.Flush":   b.Flush(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func TestInMemory(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got rec
	if err := errors.Join(s.Put("vm", "a", rec{Size: 7}), s.Get("vm", "a", &got)); err != nil || got.Size != 7 {
		t.Fatalf("Put/Get = %+v, %v", got, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("InMemory wrote files: %q", entries)
	}
}

func TestBadgerLoggerKeepsWarnings(t *testing.T) {
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	l := badgerLogger{log}
	l.Debugf("debug %d\n", 1)
	l.Infof("info %d\n", 2)
	l.Warningf("warn %d\n", 3)
	l.Errorf("error %d\n", 4)
	var got []string
	for _, e := range hook.AllEntries() {
		got = append(got, e.Level.String()+":"+e.Message)
	}
	if want := []string{"warning:warn 3", "error:error 4"}; !slices.Equal(got, want) {
		t.Errorf("logged %q, want %q", got, want)
	}
}

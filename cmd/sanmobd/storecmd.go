package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sanmob/sanmob/store"
	"github.com/sirupsen/logrus"
)

// The store subcommands work on a stopped daemon's store, without its
// config or lab: check, backup and restore. Exit codes: 0 done (check:
// clean), 1 failed (check: damaged), 2 usage, or the check could not run.
const storeUsage = `usage:
  sanmobd check   --data-dir D              verify the store in D/store; exit 0 clean, 1 damaged, 2 could not check
  sanmobd backup  --data-dir D --out FILE   write a backup of D/store to FILE (- for stdout)
  sanmobd restore --data-dir D --in FILE    restore a backup (- for stdin) into D/store, which must not hold data
The daemon must be stopped: badger admits one process per store.`

// storeCommand runs the subcommand in args[0] if there is one and reports
// whether it did, with the exit code.
func storeCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) (bool, int) {
	if len(args) == 0 {
		return false, 0
	}
	cmd := args[0]
	switch cmd {
	case "check", "backup", "restore":
	case "help":
		fmt.Fprintln(stdout, storeUsage)
		return true, 0
	default:
		return false, 0
	}
	fs := flag.NewFlagSet("sanmobd "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, storeUsage) }
	dataDir := fs.String("data-dir", "", "the daemon's data directory (the store is its store/ subdirectory)")
	var file *string
	switch cmd {
	case "backup":
		file = fs.String("out", "", "backup file to write, - for stdout")
	case "restore":
		file = fs.String("in", "", "backup file to read, - for stdin")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return true, 2
	}
	if *dataDir == "" || fs.NArg() > 0 || (file != nil && *file == "") {
		fmt.Fprintln(stderr, storeUsage)
		return true, 2
	}
	dir := filepath.Join(*dataDir, "store")
	// badger's warnings and errors go to stderr; stdout may be the backup.
	log := logrus.New()
	log.SetOutput(stderr)
	log.SetLevel(logrus.WarnLevel)
	opts := store.Options{Logger: log}
	switch cmd {
	case "check":
		return true, runCheck(dir, opts, stdout, stderr)
	case "backup":
		return true, runBackup(dir, *file, opts, stdout, stderr)
	default:
		return true, runRestore(dir, *file, opts, stdin, stdout, stderr)
	}
}

func runCheck(dir string, opts store.Options, stdout, stderr io.Writer) int {
	rep, err := store.Check(dir, opts)
	if err != nil {
		fmt.Fprintln(stderr, "sanmobd check:", err)
		return 2
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(stdout, "note:", n)
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(stdout, "problem:", p)
	}
	total := 0
	for _, n := range rep.Records {
		total += n
	}
	if len(rep.Problems) > 0 {
		fmt.Fprintf(stdout, "store %s is damaged: %d problems\n", dir, len(rep.Problems))
		return 1
	}
	fmt.Fprintf(stdout, "store %s is clean: %d records of %d kinds\n", dir, total, len(rep.Records))
	return 0
}

func runBackup(dir, out string, opts store.Options, stdout, stderr io.Writer) (code int) {
	w := stdout
	var f *os.File
	if out != "-" {
		var err error
		// O_EXCL: a backup never overwrites a file, perhaps an older backup.
		f, err = os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			fmt.Fprintln(stderr, "sanmobd backup:", err)
			return 1
		}
		w = f
	}
	n, err := store.Backup(dir, w, opts)
	if f != nil {
		if err == nil {
			err = f.Sync()
		}
		err = errors.Join(err, f.Close())
		if err != nil {
			_ = os.Remove(out) // no half backup left to be trusted later
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "sanmobd backup:", err)
		return 1
	}
	if out != "-" {
		fmt.Fprintf(stdout, "backed up %s to %s (%d bytes)\n", dir, out, n)
	}
	return 0
}

func runRestore(dir, in string, opts store.Options, stdin io.Reader, stdout, stderr io.Writer) int {
	r := stdin
	if in != "-" {
		f, err := os.Open(in)
		if err != nil {
			fmt.Fprintln(stderr, "sanmobd restore:", err)
			return 1
		}
		defer f.Close()
		r = f
	}
	if err := store.Restore(dir, r, opts); err != nil {
		fmt.Fprintln(stderr, "sanmobd restore:", err)
		return 1
	}
	fmt.Fprintf(stdout, "restored %s into %s\n", in, dir)
	return 0
}

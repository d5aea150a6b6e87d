// Command floors checks the house rule "imports only go down": every
// package of the module sits on a floor of the table in table.go, imports
// only packages on lower floors (or the peers the table names), and only
// the wiring imports drivers — lab only from cmd/* and internal/labwire.
// Test files are not checked. It reads the import graph with `go list` and
// exits 1 listing every violation. Run it from the module root:
//
//	go run ./internal/tools/floors
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

func main() {
	g, err := load()
	if err != nil {
		fmt.Fprintln(os.Stderr, "floors:", err)
		os.Exit(2)
	}
	vs := Check(g)
	for _, v := range vs {
		fmt.Fprintln(os.Stderr, "floors:", v)
	}
	if len(vs) > 0 {
		fmt.Fprintf(os.Stderr, "floors: %d violation(s) of the floor table\n", len(vs))
		os.Exit(1)
	}
}

type listed struct {
	ImportPath string
	Imports    []string
	Module     *struct{ Path string }
	Error      *struct{ Err string }
}

// load lists the module's packages with `go list -e -json ./...`.
func load() (Graph, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Module,Error", "./...")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go list: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return parse(&stdout)
}

// parse reads go list's JSON stream into a Graph relative to the module.
func parse(r io.Reader) (Graph, error) {
	g := Graph{}
	dec := json.NewDecoder(r)
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list output: %w", err)
		}
		if p.Error != nil {
			return nil, fmt.Errorf("%s: %s", p.ImportPath, p.Error.Err)
		}
		if p.Module == nil {
			return nil, fmt.Errorf("%s: not in a module", p.ImportPath)
		}
		prefix := p.Module.Path + "/"
		pkg, ok := strings.CutPrefix(p.ImportPath, prefix)
		if !ok {
			return nil, fmt.Errorf("%s: the module's root package is not in the floor table", p.ImportPath)
		}
		g[pkg] = []string{}
		for _, imp := range p.Imports {
			if rel, ok := strings.CutPrefix(imp, prefix); ok {
				g[pkg] = append(g[pkg], rel)
			}
		}
	}
	if len(g) == 0 {
		return nil, errors.New("go list found no packages")
	}
	return g, nil
}

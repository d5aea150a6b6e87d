package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// driver is the floor of the drivers, which stand outside the floors.
const driver = -1

type entry struct {
	pattern string
	floor   int
	// peers are the packages on the same floor this one may import; any
	// other import must go down.
	peers []string
}

// Graph is the module's import graph without tests: each package, relative
// to the module, with the module packages its non-test files import. Test
// files may import anything (lab, labwire, test helpers): the check is on
// what ships.
type Graph map[string][]string

// Violation is one import (or one package) the house rules forbid.
type Violation struct {
	Pkg    string
	Import string // empty for a package the table does not know
	Reason string
}

func (v Violation) String() string {
	if v.Import == "" {
		return fmt.Sprintf("%s: %s", v.Pkg, v.Reason)
	}
	return fmt.Sprintf("%s imports %s: %s", v.Pkg, v.Import, v.Reason)
}

// match reports whether pkg is pattern or, for "p/...", under p.
func match(pattern, pkg string) bool {
	if p, ok := strings.CutSuffix(pattern, "/..."); ok {
		return strings.HasPrefix(pkg, p+"/")
	}
	return pattern == pkg
}

func matchAny(patterns []string, pkg string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return match(p, pkg) })
}

// lookup returns pkg's entry: the longest pattern that matches.
func lookup(pkg string) (entry, bool) {
	var best entry
	found := false
	for _, e := range table {
		if match(e.pattern, pkg) && (!found || len(e.pattern) > len(best.pattern)) {
			best, found = e, true
		}
	}
	return best, found
}

func floorName(f int) string {
	if f == driver {
		return "a driver"
	}
	return fmt.Sprintf("floor %d", f)
}

// Check returns every violation of the house rules in g, sorted:
//   - every package, and every package imported, is in the floor table;
//   - lab is imported only by cmd/* and internal/labwire;
//   - a driver is imported only by the wiring (floor 7) or another driver,
//     and imports only floors 1–2 and other drivers;
//   - otherwise imports go down a floor, or sideways only to a peer the
//     table names.
func Check(g Graph) []Violation {
	var out []Violation
	unknown := map[string]bool{}
	for pkg, imports := range g {
		from, ok := lookup(pkg)
		if !ok {
			unknown[pkg] = true
			if slices.Contains(imports, "lab") && !matchAny(labImporters, pkg) {
				out = append(out, Violation{Pkg: pkg, Import: "lab", Reason: labRule})
			}
			continue
		}
		for _, imp := range imports {
			to, ok := lookup(imp)
			if !ok {
				unknown[imp] = true
				continue
			}
			if r := rule(pkg, from, imp, to); r != "" {
				out = append(out, Violation{Pkg: pkg, Import: imp, Reason: r})
			}
		}
	}
	for pkg := range unknown {
		out = append(out, Violation{Pkg: pkg, Reason: "not in the floor table: add it to the floor table (internal/tools/floors/table.go) and to the house plan"})
	}
	slices.SortFunc(out, func(a, b Violation) int {
		return cmp.Or(strings.Compare(a.Pkg, b.Pkg), strings.Compare(a.Import, b.Import))
	})
	return out
}

const labRule = "lab is imported only by cmd/*, internal/labwire and tests"

// rule returns why pkg (on from's floor) must not import imp (on to's
// floor), or "" when it may.
func rule(pkg string, from entry, imp string, to entry) string {
	switch {
	case imp == "lab" && !matchAny(labImporters, pkg):
		return labRule
	case from.floor == driver && to.floor != driver && to.floor > driverMaxImport:
		return fmt.Sprintf("a driver imports only floors 1–%d and other drivers, not %s", driverMaxImport, floorName(to.floor))
	case from.floor == driver:
		return ""
	case to.floor == driver && from.floor != wiringFloor:
		return fmt.Sprintf("a core package (%s) must not import a driver; only the wiring (floor %d) does", floorName(from.floor), wiringFloor)
	case to.floor == driver:
		return ""
	case to.floor > from.floor:
		return fmt.Sprintf("imports go down: %s is on %s, %s on %s", pkg, floorName(from.floor), imp, floorName(to.floor))
	case to.floor == from.floor && !matchAny(from.peers, imp):
		return fmt.Sprintf("both on %s, and the floor table does not let %s import %s", floorName(from.floor), pkg, imp)
	}
	return ""
}

package main

import (
	"slices"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    Graph
		want []string // the violations, as Violation.String
	}{
		{name: "today's shape", g: Graph{
			"store": {}, "fabric/wwn": {}, "errclass": {}, "internal/keylock": {}, "internal/clockwait": {}, "internal/loadgen": {},
			"fabric":                 {"fabric/wwn", "internal/clockwait", "internal/keylock"},
			"array":                  {"fabric/wwn"},
			"compute":                {"fabric/wwn"},
			"alert":                  {},
			"mobility":               {"alert", "array", "compute", "fabric", "fabric/wwn", "internal/clockwait", "store"},
			"server":                 {"alert", "array", "fabric", "fabric/wwn", "mobility"},
			"server/csi":             {"array", "mobility"},
			"cmd/sanmobd":            {"fabric", "internal/labwire", "lab", "mobility", "server", "server/csi", "store", "fabric/brocade"},
			"internal/labwire":       {"array", "fabric", "lab", "mobility", "server"},
			"lab":                    {"array", "compute", "fabric", "fabric/wwn"},
			"fabric/brocade":         {"fabric", "fabric/wwn", "fabric/brocade/fostest"},
			"fabric/brocade/fostest": {"fabric", "fabric/wwn"},
			"internal/tools/floors":  {},
		}},
		{name: "the planned floors", g: Graph{
			"saga":        {"store", "errclass"},
			"devices":     {"fabric", "array", "compute", "store"},
			"inventory":   {"devices", "fabric/wwn", "store"},
			"replication": {"devices", "inventory", "saga"},
			"thin":        {"devices", "inventory", "alert"},
			"qdepth":      {"devices", "inventory"},
			"mobility":    {"replication", "thin", "qdepth", "inventory", "saga"},
		}},
		{name: "up a floor", g: Graph{"fabric": {"mobility"}, "store": {"fabric/wwn"}},
			want: []string{
				"fabric imports mobility: imports go down: fabric is on floor 2, mobility on floor 5",
				"store imports fabric/wwn: both on floor 1, and the floor table does not let store import fabric/wwn",
			}},
		{name: "sideways without a peer", g: Graph{"fabric": {"array"}, "inventory": {"thin"}, "server/csi": {"server"}},
			want: []string{
				"fabric imports array: both on floor 2, and the floor table does not let fabric import array",
				"inventory imports thin: both on floor 4, and the floor table does not let inventory import thin",
				"server/csi imports server: both on floor 6, and the floor table does not let server/csi import server",
			}},
		{name: "floor 4 never imports mobility", g: Graph{"thin": {"mobility"}},
			want: []string{"thin imports mobility: imports go down: thin is on floor 4, mobility on floor 5"}},
		{name: "lab only from the wiring", g: Graph{"mobility": {"lab"}, "server": {"lab"}, "fabric/brocade": {"lab"}, "cmd/sanmobbench": {"lab"}},
			want: []string{
				"fabric/brocade imports lab: lab is imported only by cmd/*, internal/labwire and tests",
				"mobility imports lab: lab is imported only by cmd/*, internal/labwire and tests",
				"server imports lab: lab is imported only by cmd/*, internal/labwire and tests",
			}},
		{name: "no core package imports a driver", g: Graph{"mobility": {"fabric/brocade"}, "fabric": {"fabric/brocade/fostest"}},
			want: []string{
				"fabric imports fabric/brocade/fostest: a core package (floor 2) must not import a driver; only the wiring (floor 7) does",
				"mobility imports fabric/brocade: a core package (floor 5) must not import a driver; only the wiring (floor 7) does",
			}},
		{name: "drivers know only the contracts", g: Graph{"lab": {"mobility", "devices", "fabric"}},
			want: []string{
				"lab imports devices: a driver imports only floors 1–2 and other drivers, not floor 3",
				"lab imports mobility: a driver imports only floors 1–2 and other drivers, not floor 5",
			}},
		{name: "unknown packages", g: Graph{"mobility": {"fabric", "planner"}, "internal/cache": {"lab"}, "fabric/cisco": {"fabric"}},
			want: []string{
				"fabric/cisco: not in the floor table: add it to the floor table (internal/tools/floors/table.go) and to the house plan",
				"internal/cache: not in the floor table: add it to the floor table (internal/tools/floors/table.go) and to the house plan",
				"internal/cache imports lab: lab is imported only by cmd/*, internal/labwire and tests",
				"planner: not in the floor table: add it to the floor table (internal/tools/floors/table.go) and to the house plan",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, v := range Check(tc.g) {
				got = append(got, v.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("violations:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func TestTableHasNoDuplicates(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range table {
		if seen[e.pattern] {
			t.Errorf("%s is in the table twice", e.pattern)
		}
		seen[e.pattern] = true
		if e.floor != driver && (e.floor < 1 || e.floor > wiringFloor) {
			t.Errorf("%s: floor %d", e.pattern, e.floor)
		}
	}
}

func TestParse(t *testing.T) {
	const out = `{"ImportPath": "github.com/sanmob/sanmob/fabric", "Module": {"Path": "github.com/sanmob/sanmob"},
  "Imports": ["context", "github.com/sanmob/sanmob/fabric/wwn", "github.com/sirupsen/logrus"]}
{"ImportPath": "github.com/sanmob/sanmob/fabric/wwn", "Module": {"Path": "github.com/sanmob/sanmob"}}
`
	g, err := parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(g) != 2 || !slices.Equal(g["fabric"], []string{"fabric/wwn"}) || len(g["fabric/wwn"]) != 0 {
		t.Fatalf("graph %v", g)
	}
	bad := `{"ImportPath": "github.com/sanmob/sanmob/x", "Module": {"Path": "github.com/sanmob/sanmob"}, "Error": {"Err": "no Go files"}}`
	if _, err := parse(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "no Go files") {
		t.Fatalf("a package with an error: %v", err)
	}
}

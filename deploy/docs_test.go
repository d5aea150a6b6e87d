package deploy_test

import (
	"fmt"
	"go/ast"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// routeRow is one route of server/routes.go as docs/operations.md's role
// table shows it.
type routeRow struct {
	name, method, path string
	roles              []string
	lab, public        bool
}

func (r routeRow) String() string {
	cells := make([]string, 0, 4)
	for _, role := range []string{"admin", "operator", "csi", "viewer"} {
		switch {
		case r.public:
			cells = append(cells, "no token")
		case len(r.roles) == 0 || role == "admin" || contains(r.roles, role):
			cells = append(cells, "✓")
		default:
			cells = append(cells, "—")
		}
	}
	// A path parameter's mux pattern ({key:.+}: the key may hold slashes)
	// is the router's business; the table names the parameter alone.
	p := fmt.Sprintf("`%s %s`", r.method, muxPattern.ReplaceAllString(r.path, "{$1}"))
	if r.lab {
		p += " (lab only)"
	}
	return fmt.Sprintf("| %s | %s | %s |", p, r.name, strings.Join(cells, " | "))
}

var muxPattern = regexp.MustCompile(`\{([^}:]+):[^}]*\}`)

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// routeRows reads the route table of server/routes.go: its route{...}
// literals and its read(name, path, ...) and list(name, path, ...) calls
// (GET, any role).
func routeRows(t *testing.T) []routeRow {
	t.Helper()
	var rows []routeRow
	str := func(e ast.Expr) string {
		if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			s, _ := strconv.Unquote(lit.Value)
			return s
		}
		return ""
	}
	for _, f := range goFiles(t, "server") {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Name.Name != "routeTable" {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr:
					// read(...) and list(...) (a paged read) with literal
					// name and path; the helpers' own bodies call read with
					// their parameters, which are not literals.
					if id, ok := n.Fun.(*ast.Ident); ok && (id.Name == "read" || id.Name == "list") && len(n.Args) >= 2 && isStringLit(n.Args[0]) {
						rows = append(rows, routeRow{name: str(n.Args[0]), method: "GET", path: str(n.Args[1])})
					}
				case *ast.CompositeLit:
					// route{...}, or {...} inside []route{...}
					if id, ok := n.Type.(*ast.Ident); n.Type != nil && (!ok || id.Name != "route") {
						return true
					}
					var r routeRow
					for _, el := range n.Elts {
						kv, ok := el.(*ast.KeyValueExpr)
						if !ok {
							continue
						}
						switch kv.Key.(*ast.Ident).Name {
						case "name":
							r.name = str(kv.Value)
						case "path":
							r.path = str(kv.Value)
						case "method":
							if sel, ok := kv.Value.(*ast.SelectorExpr); ok {
								r.method = strings.ToUpper(strings.TrimPrefix(sel.Sel.Name, "Method"))
							}
						case "lab":
							r.lab = kv.Value.(*ast.Ident).Name == "true"
						case "public":
							r.public = kv.Value.(*ast.Ident).Name == "true"
						case "roles":
							for _, e := range kv.Value.(*ast.CompositeLit).Elts {
								r.roles = append(r.roles, strings.ToLower(strings.TrimPrefix(e.(*ast.Ident).Name, "Role")))
							}
						}
					}
					if r.name != "" && r.method != "" {
						rows = append(rows, r)
					}
				}
				return true
			})
		}
	}
	if len(rows) < 40 {
		t.Fatalf("read %d routes from server/routes.go: the reader is broken", len(rows))
	}
	return rows
}

// TestOperationsRoleTable checks docs/operations.md's role table against
// the route table: every route has its row, with the roles routes.go gives
// it, and no row names a route that is gone.
func TestOperationsRoleTable(t *testing.T) {
	raw, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	names := map[string]bool{}
	for _, r := range routeRows(t) {
		names[r.name] = true
		if !strings.Contains(doc, r.String()+"\n") {
			t.Errorf("docs/operations.md lacks the row\n%s", r)
		}
	}
	for l := range strings.SplitSeq(doc, "\n") {
		if strings.HasPrefix(l, "| `") && strings.Count(l, "|") == 7 && (strings.Contains(l, "✓") || strings.Contains(l, "no token")) {
			cells := strings.Split(l, "|")
			if n := strings.TrimSpace(cells[2]); !names[n] {
				t.Errorf("docs/operations.md has a row for route %q, which server/routes.go does not have", n)
			}
		}
	}
}

func isStringLit(e ast.Expr) bool {
	b, ok := e.(*ast.BasicLit)
	return ok && b.Kind == token.STRING
}

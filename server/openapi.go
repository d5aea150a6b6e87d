package server

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/sanmob/sanmob/fabric/wwn"
)

// buildOpenAPI writes the OpenAPI 3 document from the route table that also
// registers the routes, so the two cannot drift apart; schemas come from the
// Go types the handlers encode and decode.
func (s *Server) buildOpenAPI() ([]byte, error) {
	g := &schemaGen{components: map[string]any{}}
	paths := map[string]map[string]any{}
	problemRef := g.schema(reflect.TypeOf(Problem{}))
	for _, rt := range s.routes {
		if rt.lab && s.cfg.Lab == nil {
			continue
		}
		op := map[string]any{"operationId": rt.name, "summary": rt.summary}
		if rt.lab {
			op["tags"] = []string{"lab"}
		}
		var params []any
		for _, name := range pathParams(rt.path) {
			params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range rt.query {
			params = append(params, map[string]any{"name": q.name, "in": "query", "description": q.doc, "schema": map[string]any{"type": q.typ}})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.req != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(rt.req))}}}
		}
		ok := map[string]any{"description": http.StatusText(rt.status)}
		if rt.resp != nil {
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(rt.resp))}}
		} else if rt.name == "metrics" {
			ok["content"] = map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}
		}
		problem := func(code int) map[string]any {
			return map[string]any{"description": http.StatusText(code), "content": map[string]any{"application/problem+json": map[string]any{"schema": problemRef}}}
		}
		responses := map[string]any{itoa(rt.status): ok}
		for code, body := range rt.also {
			responses[itoa(code)] = map[string]any{"description": http.StatusText(code), "content": map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(body))}}}
		}
		// Any path answers 405, with Allow, to a method it does not take.
		responses["405"] = problem(http.StatusMethodNotAllowed)
		if !rt.public {
			op["security"] = []any{map[string]any{"bearer": []string{}}}
			responses["401"] = problem(http.StatusUnauthorized)
			responses["403"] = problem(http.StatusForbidden)
		}
		// Every /v1 route refuses an unknown, repeated or unreadable query
		// parameter; routes with a body or parameters refuse bad ones.
		if rt.req != nil || len(rt.query) > 0 || strings.HasPrefix(rt.path, "/v1/") {
			responses["400"] = problem(http.StatusBadRequest)
		}
		if rt.req != nil {
			responses["409"] = problem(http.StatusConflict)
			responses["413"] = problem(http.StatusRequestEntityTooLarge)
			responses["408"] = problem(http.StatusRequestTimeout)       // the body came too slowly
			responses["415"] = problem(http.StatusUnsupportedMediaType) // a body not sent as JSON
			responses["404"] = problem(http.StatusNotFound)             // the body names an object that does not exist
		}
		if rt.method == http.MethodDelete {
			responses["409"] = problem(http.StatusConflict) // still in use
		}
		if len(pathParams(rt.path)) > 0 || (rt.paged && len(rt.query) > len(pageParams)) {
			responses["404"] = problem(http.StatusNotFound) // the path's object, or a filter's, does not exist
		}
		for _, code := range rt.errors {
			responses[itoa(code)] = problem(code)
		}
		if rt.name == "readyz" || !rt.public {
			responses["503"] = problem(http.StatusServiceUnavailable)
		}
		if !rt.public {
			responses["502"] = problem(http.StatusBadGateway) // a device refused; the detail says why
		}
		op["responses"] = responses
		path := rt.docPath()
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(rt.method)] = op
		if rt.method == http.MethodGet {
			// HEAD is served for every GET: the same answer without a body.
			head := map[string]any{"operationId": rt.name + "Head", "summary": rt.summary + " (headers only)"}
			if sec, ok := op["security"]; ok {
				head["security"] = sec
			}
			if ps, ok := op["parameters"]; ok {
				head["parameters"] = ps
			}
			hr := map[string]any{}
			for code := range responses {
				hr[code] = map[string]any{"description": "as GET, without a body"}
			}
			head["responses"] = hr
			paths[path]["head"] = head
		}
	}
	version := s.cfg.Version
	if version == "" {
		version = "dev"
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "sanmob",
			"version":     version,
			"description": "Storage-aware VM mobility for Fibre Channel SANs. Errors are RFC 9457 application/problem+json.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas":         g.components,
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

var pathParamRE = regexp.MustCompile(`\{([^}:]+)(:[^}]*)?\}`)

// docPath is the route's path as the OpenAPI document, the logs and the
// metrics name it: each parameter without mux's pattern ({key}, not
// {key:.+}).
func (rt route) docPath() string { return pathParamRE.ReplaceAllString(rt.path, "{$1}") }

func pathParams(p string) []string {
	var out []string
	for _, m := range pathParamRE.FindAllStringSubmatch(p, -1) {
		out = append(out, m[1])
	}
	return out
}

type schemaGen struct {
	components map[string]any
}

var (
	wwnType  = reflect.TypeOf(wwn.WWN{})
	timeType = reflect.TypeOf(time.Time{})
)

var genericArgRE = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func componentName(t reflect.Type) string {
	pkg := t.PkgPath()
	if i := strings.LastIndex(pkg, "/"); i >= 0 {
		pkg = pkg[i+1:]
	}
	name := t.Name()
	if i := strings.Index(name, "["); i >= 0 {
		// List[github.com/.../inventory.VM] → List_mobility.VM
		arg := name[i+1 : len(name)-1]
		if j := strings.LastIndex(arg, "/"); j >= 0 {
			arg = arg[j+1:]
		}
		name = name[:i] + "_" + genericArgRE.ReplaceAllString(arg, "_")
	}
	return pkg + "." + name
}

// schema returns a JSON Schema (OpenAPI 3.0 flavour) for t; named structs
// become components referenced by $ref.
func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch t {
	case wwnType:
		return map[string]any{"type": "string", "example": "10:00:00:90:fa:12:34:56", "description": "WWN; accepted as colon, dash, bare or 0x hex; printed lowercase with colons"}
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		s := g.schema(t.Elem())
		if _, isRef := s["$ref"]; isRef {
			return map[string]any{"allOf": []any{s}, "nullable": true}
		}
		s["nullable"] = true
		return s
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		if t.Name() == "" {
			return g.object(t)
		}
		name := componentName(t)
		if _, done := g.components[name]; !done {
			g.components[name] = map[string]any{} // break cycles
			g.components[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" || !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				walk(f.Type)
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = g.schema(f.Type)
			if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") && f.Type.Kind() != reflect.Pointer {
				required = append(required, name)
			}
		}
	}
	walk(t)
	out := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

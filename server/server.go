package server

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/alert"
	"github.com/sanmob/sanmob/mobility"
	"github.com/sanmob/sanmob/server/ui"
)

const maxBody = 1 << 20 // 1 MiB; larger bodies get 413

// Config wires the API to the core.
type Config struct {
	Mobility *mobility.Service
	// Lab is set only when the daemon runs the embedded lab; the /v1/lab
	// routes exist only then.
	Lab    Lab
	Tokens []Token
	Log    logrus.FieldLogger
	// Registry receives the API's metrics; a fresh one when nil.
	Registry *prometheus.Registry
	// Ready adds the daemon's own readiness conditions (store open, ...).
	Ready func() (bool, []string)
	// Version is reported in the OpenAPI document.
	Version string
	// Alerts is the alert manager the raisers share (the one given to
	// mobility); GET /v1/alerts/stream streams its changes. Nil: 503 there.
	Alerts *alert.Manager
	// AlertDelivery, when set, has its per-receiver counters exported.
	AlertDelivery *alert.Delivery
}

// Server is the HTTP API.
type Server struct {
	cfg     Config
	mob     *mobility.Service
	tokens  []Token
	log     logrus.FieldLogger
	reg     *prometheus.Registry
	metrics *metrics
	routes  []route
	router  *mux.Router
	openapi []byte
}

type route struct {
	name    string
	method  string
	path    string
	public  bool   // no token needed
	roles   []Role // empty: any role may call it
	summary string
	query   []queryParam
	req     any         // request body type, for the OpenAPI document
	resp    any         // success body type
	status  int         // success status
	also    map[int]any // other success statuses with their body types (a migration's dry run: 200, the plan)
	errors  []int       // statuses besides the ones every route of its kind may answer (OpenAPI)
	quiet   bool        // a write that succeeds is logged at debug, not info (telemetry, every few seconds per host)
	paged   bool        // a list: ?limit and ?continue (page), and a 400 for a query parameter not in query
	lab     bool
	handler http.HandlerFunc
}

type queryParam struct{ name, typ, doc string }

// New builds the router. It does no I/O.
func New(cfg Config) (*Server, error) {
	if cfg.Mobility == nil {
		return nil, fmt.Errorf("server: the mobility service is required")
	}
	if len(cfg.Tokens) == 0 {
		return nil, fmt.Errorf("server: at least one token is required")
	}
	for _, t := range cfg.Tokens {
		if _, err := ParseRole(string(t.Role)); err != nil {
			return nil, fmt.Errorf("server: token %q: %w", t.Name, err)
		}
		if t.Hash == ([sha256.Size]byte{}) {
			return nil, fmt.Errorf("server: token %q has no hash", t.Name)
		}
	}
	if cfg.Log == nil {
		cfg.Log = logrus.StandardLogger()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, mob: cfg.Mobility, tokens: cfg.Tokens, log: cfg.Log, reg: cfg.Registry}
	s.metrics = newMetrics(cfg.Registry)
	cfg.Registry.MustRegister(newBuildInfo(cfg.Version))
	cfg.Registry.MustRegister(newModelCollector(cfg.Mobility), newPoolCollector(cfg.Mobility), newQueueDepthCollector(cfg.Mobility))
	if cfg.AlertDelivery != nil {
		cfg.Registry.MustRegister(newDeliveryCollector(cfg.AlertDelivery))
	}
	s.routes = s.routeTable()
	// No path cleaning: mux would answer a "." or ".." segment, or "//",
	// with a 301 to the cleaned path, and a client that keeps its method
	// on a redirect would then change another object than the one it
	// named (a claim's key holds "/"). Such a path reaches the routes as
	// it is, and their checks refuse it.
	s.router = mux.NewRouter().SkipClean(true)
	unmatched := s.wrap(route{name: "unmatched", public: true}, func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, newProblem(http.StatusNotFound, "no route "+clip(r.Method)+" "+clip(r.URL.Path)))
	})
	// The web console's public static files (server/ui) answer a GET or HEAD
	// under /ui/, beside the API rather than in its route table and OpenAPI
	// document; the page asks for a token and sends it on every API call.
	console := s.wrap(route{name: "ui", path: ui.Prefix, public: true}, ui.Handler().ServeHTTP)
	s.router.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, ui.Prefix) && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			console.ServeHTTP(w, r)
			return
		}
		unmatched.ServeHTTP(w, r)
	})
	s.router.MethodNotAllowedHandler = s.wrap(route{name: "unmatched", public: true}, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", strings.Join(s.allowed(r), ", "))
		writeProblem(w, r, newProblem(http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path))
	})
	for _, rt := range s.routes {
		if rt.lab && cfg.Lab == nil {
			continue
		}
		methods := []string{rt.method}
		if rt.method == http.MethodGet {
			methods = append(methods, http.MethodHead)
		}
		s.router.Handle(rt.path, s.wrap(rt, rt.handler)).Methods(methods...).Name(rt.name)
	}
	doc, err := s.buildOpenAPI()
	if err != nil {
		return nil, err
	}
	s.openapi = doc
	return s, nil
}

// allowed lists the methods the routes matching r's path take, for the
// Allow header of a 405.
func (s *Server) allowed(r *http.Request) []string {
	var out []string
	_ = s.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		re, err := route.GetPathRegexp()
		if err != nil {
			return nil
		}
		if pathRE(re).MatchString(r.URL.Path) {
			ms, _ := route.GetMethods()
			out = append(out, ms...)
		}
		return nil
	})
	return out
}

// pathREs caches the compiled path patterns of the routes for allowed: a
// 405 must not compile some sixty regular expressions.
var pathREs sync.Map

func pathRE(expr string) *regexp.Regexp {
	if re, ok := pathREs.Load(expr); ok {
		return re.(*regexp.Regexp)
	}
	re := regexp.MustCompile(expr) // mux compiled it already
	pathREs.Store(expr, re)
	return re
}

// Handler returns the root handler.
func (s *Server) Handler() http.Handler { return s.router }

// reqLog is what a request's log lines carry. The logrus entry is built
// only when a line is actually written: most requests write none.
type reqLog struct {
	log                         logrus.FieldLogger
	method, route, path, remote string
	principal                   string
	role                        Role
}

func (l *reqLog) entry() logrus.FieldLogger {
	f := logrus.Fields{"method": l.method, "route": l.route, "path": l.path, "remote": l.remote}
	if l.principal != "" {
		f["principal"], f["role"] = l.principal, l.role
	}
	return l.log.WithFields(f)
}

// entry is the log entry of the request w answers. It travels with the
// ResponseWriter rather than the context: that spares every request a copy
// of the *http.Request.
// principal is the name of the token that authenticated the request w
// answers; "" when none did.
func principal(w http.ResponseWriter) string {
	if rec, ok := w.(*statusRecorder); ok && rec.log != nil {
		return rec.log.principal
	}
	return ""
}

func entry(w http.ResponseWriter) logrus.FieldLogger {
	if rec, ok := w.(*statusRecorder); ok && rec.log != nil {
		return rec.log.entry()
	}
	return logrus.StandardLogger()
}

func (s *Server) enabled(level logrus.Level) bool {
	if l, ok := s.log.(interface{ IsLevelEnabled(logrus.Level) bool }); ok {
		return l.IsLevelEnabled(level)
	}
	return true
}

// statusRecorder remembers the status for logs and metrics and passes
// Flush through for SSE.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
	log    *reqLog
	wire   *wireConn // nil unless served through Listener
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// ReadFrom lets io.Copy reach the response's own ReadFrom (see writeBody).
func (w *statusRecorder) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := io.Copy(w.ResponseWriter, r)
	w.bytes += int(n)
	return n, err
}

func (w *statusRecorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wrap adds, around one route: panic recovery, auth and roles, the request
// log entry in the context, the request log line and the metrics.
func (s *Server) wrap(rt route, h http.HandlerFunc) http.Handler {
	label := rt.docPath()
	if label == "" {
		label = rt.name
	}
	reqs := s.metrics.requests
	lat := s.metrics.latency.MustCurryWith(prometheus.Labels{"route": label})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rl := &reqLog{log: s.log, method: clip(r.Method), route: label, path: clip(r.URL.Path), remote: clip(r.RemoteAddr)}
		rec := &statusRecorder{ResponseWriter: w, log: rl, wire: wireFrom(r.Context())}
		defer func() {
			if v := recover(); v != nil {
				rl.entry().WithField("panic", clip(fmt.Sprint(v))).Error("handler panicked")
				if rec.status == 0 {
					writeProblem(rec, r, newProblem(http.StatusInternalServerError, "internal error; see the daemon's log"))
				}
			}
			d := time.Since(start)
			code := rec.status
			if code == 0 {
				code = http.StatusOK
			}
			reqs.WithLabelValues(label, r.Method, strconv.Itoa(code)).Inc()
			lat.WithLabelValues(r.Method).Observe(d.Seconds())
			// 5xx at warning (but a not-ready answer is what /readyz is
			// for), changes at info, reads at debug.
			level := logrus.DebugLevel
			switch {
			case code >= 500 && rt.name != "readyz":
				level = logrus.WarnLevel
			case r.Method != http.MethodGet && r.Method != http.MethodHead && !(rt.quiet && code < 400):
				level = logrus.InfoLevel
			}
			if s.enabled(level) {
				rl.entry().WithFields(logrus.Fields{"status": code, "durationMs": float64(d.Microseconds()) / 1000, "bytes": rec.bytes}).Log(level, "request")
			}
		}()
		if !rt.public {
			p, err := s.authenticate(r)
			if err != nil {
				rec.Header().Set("WWW-Authenticate", `Bearer realm="sanmob"`)
				writeProblem(rec, r, newProblem(http.StatusUnauthorized, err.Error()))
				return
			}
			rl.principal, rl.role = p.Name, p.Role
			if !allowed(p.Role, rt.roles) {
				writeProblem(rec, r, newProblem(http.StatusForbidden, fmt.Sprintf("role %q may not %s %s; it needs one of %v", p.Role, r.Method, label, rolesWithAdmin(rt.roles))))
				return
			}
		}
		if strings.HasPrefix(rt.path, "/v1/") && !strictQuery(rec, r, rt.query) {
			return
		}
		if rt.req == nil && r.Method != http.MethodGet && r.Method != http.MethodHead && strings.HasPrefix(rt.path, "/v1/") && hasBody(r) {
			// A body this route does not read would be ignored in silence:
			// a client that thinks it sent options learns it did not.
			writeProblem(rec, r, newProblem(http.StatusBadRequest, r.Method+" "+label+" takes no request body; its options are query parameters"))
			return
		}
		h(rec, r)
	})
}

func rolesWithAdmin(roles []Role) []Role {
	if slices.Contains(roles, RoleAdmin) {
		return roles
	}
	return append(slices.Clone(roles), RoleAdmin)
}

func (s *Server) metricsHandler() http.HandlerFunc {
	h := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})
	return h.ServeHTTP
}

func itoa(i int) string { return strconv.Itoa(i) }

package server_test

import (
	"net/http"
	"net/http/httptest"
	"os"

	"testing"

	"github.com/sanmob/sanmob/lab"

	"github.com/sanmob/sanmob/server"
)

// BenchmarkHandlers is the server's own cost of a request, without the
// network: routing, auth, the handler, encoding.
func BenchmarkHandlers(b *testing.B) {
	h := newHarness(b)
	handler := h.srv.Handler()
	for _, bc := range []struct{ name, path string }{
		{"healthz", "/healthz"},
		{"topology", "/v1/vms/" + benchVM() + "/topology"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, bc.path, nil)
			req.Header.Set("Authorization", "Bearer "+roleTokens[server.RoleViewer])
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				handler.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d", bc.path, w.Code)
				}
			}
		})
	}
}

// benchLab is the small lab, or with SANMOB_BENCH_LAB=large the 100,000-VM
// one (a minute of setup; make bench uses it).
func benchLab() lab.Config {
	if os.Getenv("SANMOB_BENCH_LAB") == "large" {
		return lab.Large()
	}
	return lab.Small()
}

func benchVM() string {
	if os.Getenv("SANMOB_BENCH_LAB") == "large" {
		return "east-vm00007"
	}
	return "east-vm007"
}

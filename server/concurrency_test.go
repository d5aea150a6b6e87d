package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/sanmob/sanmob/server"
)

// TestConcurrentRequests runs writers and readers at once, for the race
// detector and for the uniqueness of generated vport names under contention.
func TestConcurrentRequests(t *testing.T) {
	h := newHarness(t)
	client := h.ts.Client()
	call := func(method, path, body string) (int, []byte, error) {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, h.ts.URL+path, rd)
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+roleTokens[server.RoleAdmin])
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}

	const writers, perWriter = 4, 6
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				id := fmt.Sprintf("conc-%d-%d", w, i)
				host := fmt.Sprintf("east-esx%02d", 1+(w+i)%4)
				st, b, err := call("POST", "/v1/vms", `{"id":"`+id+`","host":"`+host+`"}`)
				if err != nil || st != http.StatusCreated {
					errs <- fmt.Errorf("create %s: %d %s %v", id, st, b, err)
					continue
				}
				if st, b, err := call("PATCH", "/v1/vms/"+id, `{"name":"renamed `+id+`"}`); err != nil || st != http.StatusOK {
					errs <- fmt.Errorf("patch %s: %d %s %v", id, st, b, err)
				}
			}
		})
	}
	readers := []string{"/v1/vms", "/v1/hosts", "/v1/fabrics/east-a/zones", "/v1/vms/east-vm001/topology?verify=true",
		"/v1/arrays", "/v1/pools", "/v1/volumes?limit=5", "/v1/snapshots", "/metrics", "/readyz", "/v1/lab/fabrics/east-a/zonedb"}
	for _, p := range readers {
		wg.Go(func() {
			for range 5 {
				if st, b, err := call("GET", p, ""); err != nil || st != http.StatusOK {
					errs <- fmt.Errorf("GET %s: %d %s %v", p, st, b, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	l := getJSON[list[apiVM]](t, h, "/v1/vms")
	if len(l.Items) != 24+writers*perWriter {
		t.Errorf("%d vms, want %d", len(l.Items), 24+writers*perWriter)
	}
	seen := map[string]string{}
	for _, v := range l.Items {
		if strings.HasPrefix(v.ID, "conc-") && v.Name != "renamed "+v.ID {
			t.Errorf("vm %s named %q", v.ID, v.Name)
		}
		for _, p := range v.Vports {
			for _, w := range []string{p.WWPN, p.WWNN} {
				if other, dup := seen[w]; dup {
					t.Errorf("%s is a vport name of both %s and %s", w, other, v.ID)
				}
				seen[w] = v.ID
			}
		}
	}
	raw, _ := json.Marshal(l)
	checkWWNs(t, "vms", decodeAny(t, &response{Body: raw}))
}

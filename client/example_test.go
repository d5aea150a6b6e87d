package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sanmob/sanmob/client"
)

// fakeSanmob answers the claim routes roughly as sanmobd does, so that the
// examples run: two fabrics, with a node's HBAs and an array's target
// ports logged in on them.
func fakeSanmob() *httptest.Server {
	fabricOf := map[string]string{
		"10:00:00:00:c9:aa:00:01": "east-a", // node-a's HBAs
		"10:00:00:00:c9:aa:00:02": "east-b",
		"50:0a:09:80:00:00:00:01": "east-a", // the array's target ports
		"50:0a:09:80:00:00:00:02": "east-b",
		"50:0a:09:80:00:00:00:09": "west-a", // another site's array
		"50:0a:09:80:00:00:00:03": "east-c", // on a switch that is busy
	}
	var mu sync.Mutex
	claims := map[string]client.Claim{}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	problem := func(w http.ResponseWriter, status int, detail string) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"title": http.StatusText(status), "status": status, "detail": detail})
	}
	answer := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /v1/zoning/claims/{owner}/{key...}", func(w http.ResponseWriter, r *http.Request) {
		var spec client.ClaimSpec
		if err := json.NewDecoder(r.Body).Decode(&spec); err != nil {
			problem(w, http.StatusBadRequest, err.Error())
			return
		}
		cl := client.Claim{Owner: r.PathValue("owner"), Key: r.PathValue("key"), Initiators: spec.Initiators, Targets: spec.Targets,
			Policy: spec.Policy, Fabrics: []string{}, Zones: []client.ClaimZone{}, Unreached: []client.Unreached{}, State: "ready", CreatedAt: at, UpdatedAt: at}
		var nowhere []string
		for _, p := range slices.Concat(spec.Initiators, spec.Targets) {
			if fabricOf[p] == "" {
				nowhere = append(nowhere, p)
			}
		}
		if len(nowhere) > 0 {
			problem(w, http.StatusUnprocessableEntity, "logged in on no fabric: "+strings.Join(nowhere, ", "))
			return
		}
		for _, p := range slices.Concat(spec.Initiators, spec.Targets) {
			if fabricOf[p] == "east-c" {
				problem(w, http.StatusServiceUnavailable, "fabric east-c is busy: another admin's zoning transaction is open")
				return
			}
		}
		reached := map[string]bool{}
		for _, i := range spec.Initiators {
			for _, t := range spec.Targets {
				if f := fabricOf[i]; f == fabricOf[t] {
					cl.Zones = append(cl.Zones, client.ClaimZone{Fabric: f, Name: "sm_" + strings.ReplaceAll(i[15:], ":", "") + "_" + strings.ReplaceAll(t[18:], ":", ""), Members: []string{i, t}})
					if !slices.Contains(cl.Fabrics, f) {
						cl.Fabrics = append(cl.Fabrics, f)
					}
					reached[i], reached[t] = true, true
				}
			}
		}
		if len(cl.Zones) == 0 {
			problem(w, http.StatusConflict, "no initiator shares a fabric with any target")
			return
		}
		for _, p := range slices.Concat(spec.Initiators, spec.Targets) {
			if !reached[p] {
				role := "initiator"
				if slices.Contains(spec.Targets, p) {
					role = "target"
				}
				cl.Unreached = append(cl.Unreached, client.Unreached{WWPN: p, Role: role, Reason: "shares no fabric with the other side (it is on " + fabricOf[p] + ")"})
			}
		}
		mu.Lock()
		_, existed := claims[cl.Owner+"/"+cl.Key]
		claims[cl.Owner+"/"+cl.Key] = cl
		mu.Unlock()
		status := http.StatusCreated
		if existed {
			status = http.StatusOK
		}
		answer(w, status, cl)
	})
	mux.HandleFunc("GET /v1/zoning/claims/{owner}/{key...}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		cl, ok := claims[r.PathValue("owner")+"/"+r.PathValue("key")]
		mu.Unlock()
		if !ok {
			problem(w, http.StatusNotFound, "claim "+r.PathValue("owner")+"/"+r.PathValue("key")+": not found")
			return
		}
		answer(w, http.StatusOK, cl)
	})
	mux.HandleFunc("DELETE /v1/zoning/claims/{owner}/{key...}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		delete(claims, r.PathValue("owner")+"/"+r.PathValue("key"))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	return httptest.NewServer(mux)
}

// A CSI driver's ControllerPublishVolume zones the node's HBAs to the
// array's target ports: one claim per volume and node, owned by the
// driver.
func ExampleClient_PutClaim() {
	srv := fakeSanmob() // sanmobd, for the example
	defer srv.Close()
	c, err := client.New(srv.URL, client.WithToken("a csi token"))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	cl, err := c.PutClaim(ctx, "fc.vendor.example.com", "pvc-1234/node-a", client.ClaimSpec{
		Initiators: []string{"10:00:00:00:c9:aa:00:01", "10:00:00:00:c9:aa:00:02"},
		Targets:    []string{"50:0a:09:80:00:00:00:01", "50:0a:09:80:00:00:00:02", "50:0a:09:80:00:00:00:09"},
	})
	if err != nil {
		fmt.Println(client.ClassOf(err), err) // see ExampleClassOf
		return
	}
	fmt.Println(cl.Owner, cl.Key, cl.State, cl.Fabrics)
	for _, z := range cl.Zones {
		fmt.Println(z.Fabric, z.Name, z.Members)
	}
	// The claim succeeded with fewer paths than asked for: worth an event.
	for _, u := range cl.Unreached {
		fmt.Println("unreached:", u.Role, u.WWPN, u.Reason)
	}
	// Output:
	// fc.vendor.example.com pvc-1234/node-a ready [east-a east-b]
	// east-a sm_aa0001_0001 [10:00:00:00:c9:aa:00:01 50:0a:09:80:00:00:00:01]
	// east-b sm_aa0002_0002 [10:00:00:00:c9:aa:00:02 50:0a:09:80:00:00:00:02]
	// unreached: target 50:0a:09:80:00:00:00:09 shares no fabric with the other side (it is on west-a)
}

// ControllerUnpublishVolume lets go of the claim. Deleting it again, as a
// CSI sidecar does after a lost answer, succeeds too.
func ExampleClient_DeleteClaim() {
	srv := fakeSanmob()
	defer srv.Close()
	c, err := client.New(srv.URL, client.WithToken("a csi token"))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	const owner, key = "fc.vendor.example.com", "pvc-1234/node-a"
	if _, err := c.PutClaim(ctx, owner, key, client.ClaimSpec{
		Initiators: []string{"10:00:00:00:c9:aa:00:01"},
		Targets:    []string{"50:0a:09:80:00:00:00:01"},
	}); err != nil {
		panic(err)
	}
	fmt.Println("delete:", c.DeleteClaim(ctx, owner, key))
	fmt.Println("again:", c.DeleteClaim(ctx, owner, key))
	_, err = c.GetClaim(ctx, owner, key)
	fmt.Println("gone:", client.IsNotFound(err))
	// Output:
	// delete: <nil>
	// again: <nil>
	// gone: true
}

// grpcCode is what a CSI driver answers for a claim's error (it would
// return status.Error(codes.X, err.Error()); the example prints the name).
func grpcCode(err error) string {
	switch client.ClassOf(err) {
	case client.ClassNone:
		return "OK"
	case client.ClassTemporary:
		return "Unavailable" // the sidecar retries later
	case client.ClassRefused:
		return "FailedPrecondition" // a person must fix cabling or zoning
	case client.ClassNotFound:
		return "NotFound"
	case client.ClassInvalid:
		return "InvalidArgument"
	case client.ClassCanceled:
		return "Canceled or DeadlineExceeded" // status.FromContextError(err)
	}
	return "Internal"
}

// Each class of error is one gRPC code for a CSI driver.
func ExampleClassOf() {
	srv := fakeSanmob()
	defer srv.Close()
	// Two tries, 10ms apart, to keep the example short (the default is 4
	// tries, honouring sanmobd's Retry-After: 2).
	c, err := client.New(srv.URL, client.WithToken("a csi token"),
		client.WithMaxAttempts(2), client.WithBackoff(10*time.Millisecond, 10*time.Millisecond))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	const owner = "fc.vendor.example.com"
	node := []string{"10:00:00:00:c9:aa:00:01"}
	for _, try := range []struct {
		key     string
		targets []string
	}{
		{"pvc-1/node-a", []string{"50:0a:09:80:00:00:00:01"}}, // the node and the port share east-a
		{"pvc-2/node-a", []string{"50:0a:09:80:00:00:00:09"}}, // the port is on west-a only
		{"pvc-3/node-a", []string{"50:0a:09:80:00:00:00:77"}}, // not cabled at all
		{"pvc-5/node-a", []string{"50:0a:09:80:00:00:00:03"}}, // east-c stays busy
		{"pvc-4/../node-a", []string{"50:0a:09:80:00:00:00:01"}},
	} {
		_, err := c.PutClaim(ctx, owner, try.key, client.ClaimSpec{Initiators: node, Targets: try.targets})
		fmt.Printf("%s: %s (%v)\n", try.key, grpcCode(err), client.ClassOf(err))
		var e *client.Error
		if errors.As(err, &e) {
			fmt.Println("  ", e.Status, e.Detail)
		}
	}
	_, err = c.GetClaim(ctx, owner, "pvc-9/node-a")
	fmt.Printf("get pvc-9/node-a: %s (%v)\n", grpcCode(err), client.ClassOf(err))
	// Output:
	// pvc-1/node-a: OK (none)
	// pvc-2/node-a: FailedPrecondition (refused)
	//    409 no initiator shares a fabric with any target
	// pvc-3/node-a: FailedPrecondition (refused)
	//    422 logged in on no fabric: 50:0a:09:80:00:00:00:77
	// pvc-5/node-a: Unavailable (temporary)
	//    503 fabric east-c is busy: another admin's zoning transaction is open
	// pvc-4/../node-a: InvalidArgument (invalid)
	// get pvc-9/node-a: NotFound (not-found)
}

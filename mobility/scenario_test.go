package mobility

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sanmob/sanmob/alert"
	"github.com/sanmob/sanmob/lab"
)

// Scenario scripts (testdata/scenarios/*.json) replay a move, or a few,
// step by step on a fresh fast lab, and check what the script expects
// along the way; after the last step every migration is waited for and
// the invariants of checkMovesAtRest hold for every VM the script moved.
//
//	{
//	  "description": "what the scenario shows",
//	  "lab": {"speed": 600, "seed": 0, "linkRttMs": 4, "fabricPairs": 2}, // optional: fastLab's otherwise
//	        // (above 5 ms replication is asynchronous and only cold moves
//	        // cross sites)
//	  "steps": [ one object per step, one action each:
//	    {"fault": {"target": "west-a", "op": "commit", "kind": "final",
//	               "count": 1, "rate": 0, "latencyMs": 0}},
//	        // lab.Fault; kind unavailable (default), final, applied-timeout
//	    {"at": {"call": "create group", "after": true, "nth": 1},
//	     "fault": {...}},
//	        // the fault is injected when the nth such array or hypervisor
//	        // call is made (after the device acted, or before): see
//	        // killArray and killMover for the call names
//	    {"at": {"call": "promote"}, "restart": true},
//	        // kill -9 in the middle of that call, then restart
//	    {"migrate": {"vm": "east-vm003", "to": "west-esx02", "mode": "cold",
//	                 "as": "m1", "expectError": ""}},
//	    {"awaitStep": {"migration": "m1", "step": "await-sync"}},
//	    {"wait": "m1", "expect": "rolled-back", "errorContains": "commit"},
//	    {"retry": "m1"},                          // retry a failed run's undo
//	    {"expectAlert": {"migration": "m1", "firing": true}},
//	        // whether m1's OperationFailed alert fires
//	    {"restart": true},                       // kill -9 now, then restart
//	    {"attachVolume": "east-vm003"},         // a new 1 GiB volume attached to it
//	    {"clearFaults": true},
//	    {"refresh": true},                        // read every device now
//	    {"sleepMs": 50},                          // real milliseconds
//	    {"expectVM": {"vm": "east-vm003", "site": "west", "host": "west-esx02"}},
//	    {"expectGroup": {"vm": "east-vm003", "source": "west-arr1",
//	                     "state": "SYNCHRONIZED", "absent": false}},
//	        // the VM's replication group (vm-<id>); state SUSPENDED is
//	        // waited for (up to 10 s), the others checked at once
//	  ]
//	}
type scenario struct {
	Description string `json:"description"`
	Lab         struct {
		Speed     float64 `json:"speed"`
		Seed      int64   `json:"seed"`
		LinkRTTMs float64 `json:"linkRttMs"`
		// FabricPairs is the lab's fabric pairs per site (hosts esx01
		// and esx03 on a/b, esx02 and esx04 on c/d with 2).
		FabricPairs int `json:"fabricPairs"`
	} `json:"lab"`
	Steps []scenarioStep `json:"steps"`
}

type scenarioStep struct {
	Fault *scenarioFault `json:"fault,omitempty"`
	At    *struct {
		Call  string `json:"call"`
		After bool   `json:"after"`
		Nth   int    `json:"nth"`
	} `json:"at,omitempty"`
	Migrate *struct {
		VM          string `json:"vm"`
		To          string `json:"to"`
		Mode        string `json:"mode"`
		As          string `json:"as"`
		ExpectError string `json:"expectError"`
	} `json:"migrate,omitempty"`
	AwaitStep *struct {
		Migration string `json:"migration"`
		Step      string `json:"step"`
	} `json:"awaitStep,omitempty"`
	Retry       string `json:"retry,omitempty"`
	ExpectAlert *struct {
		Migration string `json:"migration"`
		Firing    bool   `json:"firing"`
	} `json:"expectAlert,omitempty"`
	Wait          string `json:"wait,omitempty"`
	Expect        string `json:"expect,omitempty"`
	ErrorContains string `json:"errorContains,omitempty"`
	Restart       bool   `json:"restart,omitempty"`
	AttachVolume  string `json:"attachVolume,omitempty"`
	ClearFaults   bool   `json:"clearFaults,omitempty"`
	Refresh       bool   `json:"refresh,omitempty"`
	SleepMs       int    `json:"sleepMs,omitempty"`
	ExpectVM      *struct {
		VM   string `json:"vm"`
		Site string `json:"site"`
		Host string `json:"host"`
	} `json:"expectVM,omitempty"`
	ExpectGroup *struct {
		VM     string `json:"vm"`
		Source string `json:"source"`
		State  string `json:"state"`
		Absent bool   `json:"absent"`
	} `json:"expectGroup,omitempty"`
}

type scenarioFault struct {
	Target    string  `json:"target"`
	Op        string  `json:"op"`
	Kind      string  `json:"kind"`
	Count     int     `json:"count"`
	Rate      float64 `json:"rate"`
	LatencyMs int     `json:"latencyMs"`
}

func (f scenarioFault) lab() lab.Fault {
	return lab.Fault{Target: f.Target, Op: f.Op, Kind: f.Kind, Count: f.Count, Rate: f.Rate, Latency: time.Duration(f.LatencyMs) * time.Millisecond}
}

// TestScenarios replays every script in testdata/scenarios.
func TestScenarios(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "scenarios", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenarios in testdata/scenarios")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var sc scenario
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&sc); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if sc.Description == "" || len(sc.Steps) == 0 {
				t.Fatalf("%s: a scenario needs a description and steps", f)
			}
			runScenario(t, sc)
		})
	}
}

func runScenario(t *testing.T, sc scenario) {
	cfg := fastLab()
	if sc.Lab.Speed > 0 {
		cfg.Speed = sc.Lab.Speed
	}
	cfg.Seed = sc.Lab.Seed
	if sc.Lab.LinkRTTMs > 0 {
		cfg.LinkRTTMs = sc.Lab.LinkRTTMs
	}
	cfg.FabricPairsPerSite = sc.Lab.FabricPairs
	h, ks := newKillHarness(t, cfg)
	base := baselineOf(t, h)
	defer watchWritable(t, h)()
	ctx := context.Background()
	ids := map[string]propMove{} // "as" → the migration
	var moves []propMove
	var vms []string
	move := func(as string) propMove {
		m, ok := ids[as]
		if !ok {
			t.Fatalf("no migration %q started", as)
		}
		return m
	}
	// An "at" step arms the kill switch before the step that starts or
	// resumes the work it waits for (a migrate, a restart): armed after,
	// a busy machine may have made the call already.
	armed := -1
	arm := func(i int) {
		if i >= len(sc.Steps) || sc.Steps[i].At == nil || armed == i {
			return
		}
		armed = i
		st := sc.Steps[i]
		select {
		case <-ks.hit: // an earlier fault's hit: not this step's
		default:
		}
		var then func()
		if st.Fault != nil {
			f := st.Fault.lab()
			then = func() {
				if err := h.world.InjectFault(f); err != nil {
					t.Errorf("fault %+v: %v", f, err)
				}
			}
		}
		ks.armOn(st.At.Call, max(st.At.Nth, 1), st.At.After, then)
	}
	for i, st := range sc.Steps {
		t.Logf("step %d: %s", i, stepJSON(st))
		switch {
		case st.At != nil:
			switch {
			case st.Fault != nil:
				arm(i)
			case st.Restart:
				arm(i)
				select {
				case what := <-ks.hit:
					t.Logf("killed during %s", what)
				case <-time.After(20 * time.Second):
					t.Fatalf("step %d: no %s call within 20 s", i, st.At.Call)
				}
				ks.disarm()
				arm(i + 1)
				h.reopen(t)
			default:
				t.Fatalf("step %d: \"at\" goes with a fault or a restart", i)
			}
		case st.Fault != nil:
			if err := h.world.InjectFault(st.Fault.lab()); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		case st.Migrate != nil:
			mv := st.Migrate
			vm, err := h.svc.VM(mv.VM)
			if err != nil {
				t.Fatal(err)
			}
			arm(i + 1)
			m, err := h.svc.StartMigration(MigrationSpec{VM: mv.VM, DestinationHost: mv.To, Mode: mv.Mode})
			if mv.ExpectError != "" {
				if err == nil || !strings.Contains(err.Error(), mv.ExpectError) {
					t.Fatalf("step %d: starting the move: %v, want an error with %q", i, err, mv.ExpectError)
				}
				continue
			}
			if err != nil {
				t.Fatalf("step %d: starting the move: %v", i, err)
			}
			pm := propMove{id: m.ID, vm: mv.VM, from: vm.Host, to: mv.To, mode: m.Mode, kind: m.Kind}
			if mv.As != "" {
				ids[mv.As] = pm
			}
			moves = append(moves, pm)
			if !slices.Contains(vms, mv.VM) {
				vms = append(vms, mv.VM)
			}
		case st.AwaitStep != nil:
			m := move(st.AwaitStep.Migration)
			deadline := time.Now().Add(20 * time.Second)
			for {
				got, err := h.svc.Migration(m.id)
				if err != nil {
					t.Fatal(err)
				}
				if runningStep(got) == st.AwaitStep.Step {
					break
				}
				if got.Phase != "running" || time.Now().After(deadline) {
					t.Fatalf("step %d: migration %s never ran step %s: %s %+v", i, st.AwaitStep.Migration, st.AwaitStep.Step, got.Phase, got.Steps)
				}
				time.Sleep(time.Millisecond)
			}
		case st.Wait != "":
			m := move(st.Wait)
			c, cancel := context.WithTimeout(ctx, time.Minute)
			end, err := h.svc.WaitMigration(c, m.id)
			cancel()
			if err != nil && end.ID == "" {
				dumpMoves(t, h)
				t.Fatalf("step %d: waiting for %s: %v", i, st.Wait, err)
			}
			if st.Expect != "" && end.Phase != st.Expect {
				dumpMoves(t, h)
				t.Fatalf("step %d: migration %s ended %s (%s), want %s", i, st.Wait, end.Phase, end.Error, st.Expect)
			}
			if st.ErrorContains != "" && !strings.Contains(end.Error, st.ErrorContains) {
				t.Fatalf("step %d: migration %s ended with %q, want it to say %q", i, st.Wait, end.Error, st.ErrorContains)
			}
			if end.Phase == "failed" && end.Action == "" {
				t.Errorf("step %d: migration %s failed without an action: %s", i, st.Wait, end.Error)
			}
		case st.Retry != "":
			if _, err := h.svc.sagas.Retry(move(st.Retry).id); err != nil {
				t.Fatalf("step %d: retrying %s: %v", i, st.Retry, err)
			}
		case st.ExpectAlert != nil:
			id := move(st.ExpectAlert.Migration).id
			firing := slices.ContainsFunc(h.svc.Alerts(), func(a alert.Alert) bool {
				return a.Status == "firing" && a.Labels["alertname"] == alert.OperationFailed && a.Annotations["run"] == id
			})
			if firing != st.ExpectAlert.Firing {
				t.Errorf("step %d: the alert of %s fires: %t, want %t", i, st.ExpectAlert.Migration, firing, st.ExpectAlert.Firing)
			}
		case st.Restart:
			arm(i + 1)
			h.reopen(t)
		case st.AttachVolume != "":
			attachExtraVolume(t, h, st.AttachVolume)
		case st.ClearFaults:
			h.world.ClearFaults()
		case st.Refresh:
			h.svc.Refresh(ctx)
		case st.SleepMs > 0:
			time.Sleep(time.Duration(st.SleepMs) * time.Millisecond)
		case st.ExpectVM != nil:
			e := st.ExpectVM
			vm, err := h.svc.VM(e.VM)
			if err != nil {
				t.Fatal(err)
			}
			if e.Site != "" && vm.Site != e.Site || e.Host != "" && vm.Host != e.Host {
				t.Errorf("step %d: vm %s on %s at %s, want host %q site %q", i, e.VM, vm.Host, vm.Site, e.Host, e.Site)
			}
			checkVMAtRest(t, h, e.VM)
		case st.ExpectGroup != nil:
			e := st.ExpectGroup
			id := "vm-" + e.VM
			deadline := time.Now().Add(10 * time.Second)
			for {
				g, ok := labGroups(t, h)[id]
				var problem string
				switch {
				case e.Absent && ok:
					problem = "present"
				case e.Absent:
				case !ok:
					problem = "absent"
				case e.Source != "" && g.SourceArray != e.Source:
					problem = "replicating from " + g.SourceArray
				case e.State != "" && g.State != e.State:
					problem = "in state " + g.State
				}
				if problem == "" {
					break
				}
				if e.State != "SUSPENDED" || time.Now().After(deadline) {
					t.Fatalf("step %d: group %s is %s: want %+v", i, id, problem, *e)
				}
				time.Sleep(time.Millisecond)
			}
		default:
			t.Fatalf("step %d does nothing: %s", i, stepJSON(st))
		}
		if t.Failed() {
			dumpMoves(t, h)
			t.FailNow()
		}
	}
	// At rest: every migration ended, and every invariant holds.
	ks.disarm()
	h.world.ClearFaults()
	settleMoves(t, h, moves)
	checkMovesAtRest(t, h, vms, moves, base)
	if t.Failed() {
		dumpMoves(t, h)
	}
}

func stepJSON(st scenarioStep) string {
	b, _ := json.Marshal(st)
	return string(b)
}

// Command sanmobbench measures the figures recorded in BENCHMARKS.md that
// need a whole daemon: cold start on a store holding the large lab (time to
// ready, peak RSS) and REST throughput of the topology query against
// /healthz on the same server in the same run, over loopback. Before the
// measured rounds it asks once for every VM's topology (--warmup), so that
// the rounds measure the steady state of a daemon that has answered for
// each VM before: the first answer for a VM traces its paths, later ones
// read the path table kept for it. The warm-up's own rate is printed too.
//
// With --journal N (or a list, --journal 0,10000), each store's lab is
// given N journaled device changes after the daemon's first start, with the
// daemon stopped (see journal.go), so that the measured cold starts replay
// a journal of N changes; cold starts alternate between the stores.
//
// It builds nothing: it runs the sanmobd binary it is given, on a fresh data
// dir, and only ever talks to 127.0.0.1.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/utils/clock"

	"github.com/sanmob/sanmob/internal/loadgen"
)

func main() {
	bin := flag.String("sanmobd", "bin/sanmobd", "the daemon binary")
	size := flag.String("lab-size", "large", "lab size for the daemon")
	rounds := flag.Int("rounds", 10, "alternating load rounds per endpoint")
	roundDur := flag.Duration("round", 2*time.Second, "duration of one load round")
	conc := flag.Int("concurrency", 16, "concurrent keep-alive clients")
	warmup := flag.Bool("warmup", true, "ask once for every VM's topology before the measured rounds, so that they measure a daemon whose path tables are built")
	addr := flag.String("addr", "", "measure a daemon already running here (with --data-dir) instead of starting one; skips the start figures")
	dataDir := flag.String("data-dir", "", "the running daemon's data dir, for its admin.token (with --addr)")
	journalList := flag.String("journal", "0", "comma-separated numbers of lab device changes to journal (daemon stopped, after its first start) before the cold starts; one store each, cold starts alternate between them, the load rounds run against the last")
	starts := flag.Int("starts", 3, "cold starts per store")
	flag.Parse()
	var journals []int
	for _, f := range strings.Split(*journalList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "sanmobbench: --journal %q: want non-negative numbers separated by commas\n", *journalList)
			os.Exit(2)
		}
		journals = append(journals, n)
	}
	if *starts < 1 {
		fmt.Fprintln(os.Stderr, "sanmobbench: --starts must be at least 1")
		os.Exit(2)
	}
	var err error
	if *addr != "" {
		err = measureLoad(*addr, *dataDir, *rounds, *roundDur, *conc, *warmup, nil)
	} else {
		err = run(*bin, *size, *rounds, *roundDur, *conc, *warmup, journals, *starts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sanmobbench:", err)
		os.Exit(1)
	}
}

type daemon struct {
	cmd  *exec.Cmd
	addr string
	logs *strings.Builder
	mu   sync.Mutex
}

func start(bin, dir, size string) (*daemon, time.Duration, error) {
	t0 := time.Now()
	cmd := exec.Command(bin, "--lab", "--lab-size", size, "--data-dir", dir, "--listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "info")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, 0, err
	}
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	d := &daemon{cmd: cmd, logs: &strings.Builder{}}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.logs.WriteString(line + "\n")
			d.mu.Unlock()
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil {
				if a, ok := rec["listen"].(string); ok {
					select {
					case addrc <- a:
					default:
					}
				}
			}
		}
	}()
	select {
	case d.addr = <-addrc:
	case <-time.After(120 * time.Second):
		_ = cmd.Process.Kill()
		return nil, 0, errors.New("no listen address logged within 120 s")
	}
	deadline := time.Now().Add(300 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + d.addr + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d, time.Since(t0), nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return nil, 0, fmt.Errorf("not ready within 300 s; log:\n%s", d.logs.String())
}

func (d *daemon) stop() error {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(60 * time.Second):
		_ = d.cmd.Process.Kill()
		return errors.New("did not stop within 60 s of SIGTERM")
	}
}

// peakRSS reads the process's high-water resident set from /proc.
func (d *daemon) peakRSS() (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

func run(bin, size string, rounds int, roundDur time.Duration, conc int, warmup bool, journals []int, starts int) error {
	// One store per journal length, each filled by a first start
	// (discovery), then given its journaled lab changes with the daemon
	// stopped.
	dirs := make([]string, len(journals))
	for i, n := range journals {
		dir, err := os.MkdirTemp("", "sanmobbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dirs[i] = dir
		d, first, err := start(bin, dir, size)
		if err != nil {
			return err
		}
		rss1, _ := d.peakRSS()
		if err := d.stop(); err != nil {
			return err
		}
		fmt.Printf("first start (discovery, %s lab): %.2f s to ready, peak RSS %.0f MiB\n", size, first.Seconds(), float64(rss1)/(1<<20))
		took, reopen, vols, err := journalChanges(dir, size, n)
		if err != nil {
			return fmt.Errorf("journaling %d lab changes: %w", n, err)
		}
		if n > 0 {
			st, _ := os.Stat(filepath.Join(dir, "lab", "journal"))
			var sz int64
			if st != nil {
				sz = st.Size()
			}
			fmt.Printf("journaled %d lab device changes with the daemon stopped in %.1f s (journal %.1f MiB); the lab reopened in process (build + replay) in %.2f s, holding %d of the volumes made\n",
				n, took.Seconds(), float64(sz)/(1<<20), reopen.Seconds(), vols)
		}
	}
	// Cold starts on the stores the first starts filled, alternating
	// between the stores so that each sees the same machine. The first
	// start of each store also pays for badger compacting what discovery
	// just wrote, so the median is the figure.
	colds, rsss := make([][]float64, len(journals)), make([][]float64, len(journals))
	var d *daemon
	for r := range starts {
		for i, n := range journals {
			var cold time.Duration
			var err error
			d, cold, err = start(bin, dirs[i], size)
			if err != nil {
				return err
			}
			rss, _ := d.peakRSS()
			colds[i], rsss[i] = append(colds[i], cold.Seconds()), append(rsss[i], float64(rss)/(1<<20))
			fmt.Printf("cold start %d (store holds the %s lab, lab journal of %d changes): %.2f s to ready, peak RSS %.0f MiB\n", r+1, size, n, cold.Seconds(), float64(rss)/(1<<20))
			if r < starts-1 || i < len(journals)-1 {
				if err := d.stop(); err != nil {
					return err
				}
			}
		}
	}
	defer d.stop()
	for i, n := range journals {
		fmt.Printf("cold start median of %d (lab journal of %d changes): %.2f s to ready (%.2f-%.2f), peak RSS %.0f MiB (max of %d)\n",
			starts, n, median(colds[i]), slices.Min(colds[i]), slices.Max(colds[i]), slices.Max(rsss[i]), starts)
	}
	if len(journals) > 1 {
		lo, hi := 0, 0
		for i, n := range journals {
			if n < journals[lo] {
				lo = i
			}
			if n > journals[hi] {
				hi = i
			}
		}
		fmt.Printf("cold start, lab journal of %d changes vs of %d, ratio of medians: %.2f (%+.2f s)\n",
			journals[hi], journals[lo], median(colds[hi])/median(colds[lo]), median(colds[hi])-median(colds[lo]))
	}
	if rounds == 0 {
		return nil
	}
	return measureLoad(d.addr, dirs[len(dirs)-1], rounds, roundDur, conc, warmup, d)
}

// measureLoad alternates rounds of /healthz and topology load, so that both
// see the same machine conditions, and reports the median of each.
func measureLoad(addr, dir string, rounds int, roundDur time.Duration, conc int, warmup bool, d *daemon) error {
	tokb, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		return err
	}
	token := strings.TrimSpace(string(tokb))
	ids, err := vmIDs(addr, token)
	if err != nil {
		return err
	}
	fmt.Printf("VMs in the inventory: %d\n", len(ids))

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc,
		DialContext: (&net.Dialer{}).DialContext}}
	health := func(int) string { return "http://" + addr + "/healthz" }
	topo := func(i int) string { return "http://" + addr + "/v1/vms/" + ids[i%len(ids)] + "/topology" }
	if warmup {
		// The first answer for a VM traces its paths; later ones read the
		// path table kept for it. Measured rounds pick VMs at random, so
		// without this they would mix the two in proportions that depend
		// on how long the daemon has run.
		res, err := loadgen.Run(clock.RealClock{}, len(ids), conc, func(i int) error { return get(context.Background(), client, topo(i), token) })
		if err != nil {
			return err
		}
		fmt.Printf("warm-up: one topology for each of the %d VMs at %.0f req/s (first answers, paths traced)\n", len(ids), res.PerSecond)
	}
	var hs, ts, rs []float64
	for r := 0; r < rounds; r++ {
		h, err := load(client, health, "", roundDur, conc)
		if err != nil {
			return err
		}
		t, err := load(client, topo, token, roundDur, conc)
		if err != nil {
			return err
		}
		hs, ts, rs = append(hs, h), append(ts, t), append(rs, t/h)
		fmt.Printf("round %d: healthz %.0f req/s, topology %.0f req/s, ratio %.2f\n", r+1, h, t, t/h)
	}
	mh, mt := median(hs), median(ts)
	fmt.Printf("median over %d rounds of %s at concurrency %d: healthz %.0f req/s, topology %.0f req/s, ratio of medians %.2f, median of round ratios %.2f\n", rounds, roundDur, conc, mh, mt, mt/mh, median(rs))
	if d != nil {
		rss3, _ := d.peakRSS()
		fmt.Printf("peak RSS after the load: %.0f MiB\n", float64(rss3)/(1<<20))
	}
	return nil
}

func vmIDs(addr, token string) ([]string, error) {
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/vms", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var l struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		return nil, err
	}
	ids := make([]string, len(l.Items))
	for i, v := range l.Items {
		ids[i] = v.ID
	}
	rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	if len(ids) == 0 {
		return nil, errors.New("no VMs")
	}
	return ids, nil
}

// load runs conc clients against url(i) for d and returns requests per
// second; any non-200 answer is an error, so a fast failure cannot pass for
// throughput.
func load(c *http.Client, url func(int) string, token string, d time.Duration, conc int) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var n atomic.Int64
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	t0 := time.Now()
	for range conc {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := get(ctx, c, url(int(next.Add(1))), token); err != nil {
					if ctx.Err() == nil {
						firstErr.CompareAndSwap(nil, err)
					}
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(n.Load()) / time.Since(t0).Seconds(), nil
}

// get asks for url, reads the answer to its end and fails on any status
// but 200, so that a fast failure cannot pass for throughput.
func get(ctx context.Context, c *http.Client, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d", req.URL.Path, resp.StatusCode)
	}
	return nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

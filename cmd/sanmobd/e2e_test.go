package main

// End-to-end tests of the sanmobd binary: they build it once, run it as a
// separate process on a temporary data dir and talk to it over HTTP the way
// a storage admin's scripts do. They cover what only a real process shows:
// flags and exit codes, the generated admin token, SIGTERM, and that SIGKILL
// loses no acknowledged write.
//
// When the tests run with -race the daemon is built with -race too (the
// race-instrumented packages are already in the build cache then), and any
// race it reports fails the test that ran it.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	// startTimeout bounds a daemon start: the listen line, then /readyz.
	startTimeout = 60 * time.Second
	// servingMsg is the log line that carries the real listen address.
	servingMsg = "sanmobd serving; loading the inventory"
	// labVMs is the number of VMs the small lab world has (2 sites x 12).
	labVMs   = 24
	labHosts = 8
)

var (
	binDir   string
	buildBin = sync.OnceValues(buildDaemon)
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// raceBuild says whether this test binary was built with -race.
func raceBuild() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

// buildDaemon builds the sanmobd binary from this package's directory, once
// per test binary. `go test` puts $GOROOT/bin first in the PATH of the test
// process, so "go" is the toolchain that is running the tests.
func buildDaemon() (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("no go command: %w", err)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	binDir, err = os.MkdirTemp("", "sanmobd-e2e-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(binDir, "sanmobd")
	args := []string{"build", "-o", bin}
	if raceBuild() {
		args = append(args, "-race")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, append(args, ".")...)
	cmd.Dir = wd
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin, nil
}

func daemonBin(t testing.TB) string {
	t.Helper()
	bin, err := buildBin()
	if err != nil {
		t.Fatalf("building sanmobd: %v", err)
	}
	return bin
}

// --- the daemon process -------------------------------------------------------

// logSink collects the daemon's output and picks the listen address out of
// its JSON log.
type logSink struct {
	mu      sync.Mutex
	all     bytes.Buffer
	partial []byte
	addr    chan string
	sent    bool
}

func newLogSink() *logSink { return &logSink{addr: make(chan string, 1)} }

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all.Write(p)
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		line := s.partial[:i]
		s.partial = s.partial[i+1:]
		if s.sent {
			continue
		}
		var rec struct {
			Msg    string `json:"msg"`
			Listen string `json:"listen"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Msg == servingMsg && rec.Listen != "" {
			s.sent = true
			s.addr <- rec.Listen
		}
	}
	return len(p), nil
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.all.String()
}

// records returns the JSON log records whose msg is msg.
func (s *logSink) records(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

type daemon struct {
	t       testing.TB
	dataDir string
	cmd     *exec.Cmd
	log     *logSink
	done    chan struct{}
	base    string // http://host:port
	token   string // the admin.token contents, when there is one
}

var httpClient = &http.Client{
	Timeout:   20 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true},
}

// startDaemon runs sanmobd on dataDir, learns its address from the log,
// reads admin.token when there is one and waits until /readyz answers 200.
// The process is SIGKILLed at the end of the test if it still runs.
func startDaemon(t testing.TB, dataDir string, extra ...string) *daemon {
	t.Helper()
	bin := daemonBin(t)
	args := append([]string{"--data-dir", dataDir, "--listen", "127.0.0.1:0", "--log-format", "json"}, extra...)
	d := &daemon{t: t, dataDir: dataDir, log: newLogSink(), done: make(chan struct{})}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout = d.log
	d.cmd.Stderr = d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start sanmobd: %v", err)
	}
	go func() {
		_ = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		d.kill()
		if strings.Contains(d.log.String(), "WARNING: DATA RACE") {
			t.Errorf("the daemon reported a data race:\n%s", d.log.String())
		}
	})

	deadline := time.Now().Add(startTimeout)
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case addr := <-d.log.addr:
		d.base = "http://" + addr
	case <-d.done:
		t.Fatalf("sanmobd %v exited before serving (%v):\n%s", args, d.cmd.ProcessState, d.log.String())
	case <-timer.C:
		t.Fatalf("sanmobd %v: no %q log line within %v:\n%s", args, servingMsg, startTimeout, d.log.String())
	}
	if raw, err := os.ReadFile(filepath.Join(dataDir, "admin.token")); err == nil {
		d.token = strings.TrimSpace(string(raw))
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read admin.token: %v", err)
	}
	wait := 10 * time.Millisecond
	var last string
	for {
		st, body, err := d.request(http.MethodGet, "/readyz", "", nil)
		if err == nil && st == http.StatusOK {
			return d
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%d %s", st, body)
		}
		select {
		case <-d.done:
			t.Fatalf("sanmobd exited before it was ready (%v); last /readyz: %s\n%s", d.cmd.ProcessState, last, d.log.String())
		case <-time.After(wait):
		}
		if time.Now().After(deadline) {
			t.Fatalf("sanmobd not ready within %v; last /readyz: %s\n%s", startTimeout, last, d.log.String())
		}
		wait = min(2*wait, 250*time.Millisecond)
	}
}

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// kill SIGKILLs the daemon (no clean shutdown) and waits for it to be gone.
func (d *daemon) kill() {
	if d.exited() {
		return
	}
	_ = d.cmd.Process.Kill()
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		d.t.Errorf("sanmobd did not die within 15s of SIGKILL")
	}
}

// request sends one request; body, when not nil, is sent as JSON.
func (d *daemon) request(method, path, token string, body any) (int, []byte, error) {
	st, raw, _, err := d.requestH(method, path, token, body)
	return st, raw, err
}

func (d *daemon) requestH(method, path, token string, body any) (int, []byte, http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, d.base+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, raw, resp.Header, nil
}

// call is request with the admin token that fails the test on a transport
// error or a status other than want; out, when not nil, receives the JSON.
// requireNoZoneDrift reconciles each fabric (without repairing) and fails
// the test, not at once, when sanmob's zones are missing or orphaned there
// after a restart.
func (d *daemon) requireNoZoneDrift(t *testing.T, fabrics ...string) {
	t.Helper()
	for _, f := range fabrics {
		var drift struct {
			Missing []struct{ Name string } `json:"missing"`
			Orphans []string                `json:"orphans"`
		}
		d.call(http.MethodPost, "/v1/fabrics/"+f+"/reconcile", nil, http.StatusOK, &drift)
		if len(drift.Missing) != 0 || len(drift.Orphans) != 0 {
			t.Errorf("%s after the restart: missing %v, orphans %v", f, drift.Missing, drift.Orphans)
		}
	}
}

func (d *daemon) call(method, path string, body any, want int, out any) []byte {
	d.t.Helper()
	return d.callAs(d.token, method, path, body, want, out)
}

func (d *daemon) callAs(token, method, path string, body any, want int, out any) []byte {
	d.t.Helper()
	st, raw, hdr, err := d.requestH(method, path, token, body)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	if st != want {
		d.t.Fatalf("%s %s: status %d, want %d: %s", method, path, st, want, raw)
	}
	if st >= 400 {
		if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			d.t.Errorf("%s %s: %d with Content-Type %q, want application/problem+json", method, path, st, ct)
		}
		var p struct {
			Type   string `json:"type"`
			Title  string `json:"title"`
			Status int    `json:"status"`
		}
		if err := json.Unmarshal(raw, &p); err != nil || p.Status != st || p.Title == "" {
			d.t.Errorf("%s %s: %d body is not an RFC 9457 problem with status %d: %s", method, path, st, st, raw)
		}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			d.t.Fatalf("%s %s: decode %T: %v: %s", method, path, out, err, raw)
		}
	}
	return raw
}

// --- the API's shapes, as API.md names them -------------------------------------

type list[T any] struct {
	Items []T `json:"items"`
}

type hbaJSON struct {
	WWPN      string `json:"wwpn"`
	WWNN      string `json:"wwnn"`
	Fabric    string `json:"fabric"`
	MaxVports int    `json:"maxVports"`
}

type hostJSON struct {
	ID   string    `json:"id"`
	Name string    `json:"name"`
	Site string    `json:"site"`
	HBAs []hbaJSON `json:"hbas"`
}

type vportJSON struct {
	Fabric string `json:"fabric"`
	WWPN   string `json:"wwpn"`
	WWNN   string `json:"wwnn"`
	Set    string `json:"set"`
	Active bool   `json:"active"`
}

type volRefJSON struct {
	ID  string `json:"id"`
	LUN int    `json:"lun"`
}

type vmJSON struct {
	ID      string       `json:"id"`
	Name    string       `json:"name"`
	Host    string       `json:"host"`
	Site    string       `json:"site"`
	Vports  []vportJSON  `json:"vports"`
	Volumes []volRefJSON `json:"volumes"`
	Shares  int          `json:"shares"`
}

// normalized makes nil and empty volume lists compare equal: that
// difference is not what these tests are about.
func (v vmJSON) normalized() vmJSON {
	if len(v.Volumes) == 0 {
		v.Volumes = nil
	}
	return v
}

func sameVM(a, b vmJSON) bool {
	a, b = a.normalized(), b.normalized()
	return a.ID == b.ID && a.Name == b.Name && a.Host == b.Host && a.Site == b.Site && a.Shares == b.Shares &&
		slices.Equal(a.Vports, b.Vports) && slices.Equal(a.Volumes, b.Volumes)
}

func sameHost(a, b hostJSON) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Site == b.Site && slices.Equal(a.HBAs, b.HBAs)
}

func hbaSpec(wwpn, wwnn, fabric string) map[string]any {
	return map[string]any{"wwpn": wwpn, "wwnn": wwnn, "fabric": fabric}
}

// --- helpers over files ---------------------------------------------------------

// scanTree reports which of needles occur in the raw bytes of any file
// under dir, and in which file. Badger's value log and memtable files are
// large sparse files while the store is open, so the scan skips holes
// (SEEK_DATA/SEEK_HOLE) and reads the data in chunks.
func scanTree(t testing.TB, dir string, needles map[string][]byte) map[string]string {
	t.Helper()
	found := map[string]string{}
	maxLen := 0
	for _, n := range needles {
		maxLen = max(maxLen, len(n))
	}
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // badger may remove a file as we walk
				return nil
			}
			return err
		}
		defer f.Close()
		return scanFile(f, path, needles, maxLen, found)
	})
	if err != nil {
		t.Fatalf("scanning %s: %v", dir, err)
	}
	return found
}

const (
	seekData = 3 // SEEK_DATA on Linux
	seekHole = 4 // SEEK_HOLE on Linux
)

func scanFile(f *os.File, path string, needles map[string][]byte, maxLen int, found map[string]string) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	buf := make([]byte, 1<<20)
	var tail []byte
	search := func(b []byte) {
		for name, n := range needles {
			if _, ok := found[name]; !ok && bytes.Contains(b, n) {
				found[name] = path
			}
		}
	}
	for off := int64(0); off < size; {
		start, err := f.Seek(off, seekData)
		if err != nil {
			if errors.Is(err, syscall.ENXIO) {
				return nil // no data after off
			}
			start = off // no SEEK_DATA here: read everything
		}
		end, err := f.Seek(start, seekHole)
		if err != nil || end <= start {
			end = size
		}
		tail = tail[:0]
		for pos := start; pos < end; {
			n, err := f.ReadAt(buf[:min(int64(len(buf)), end-pos)], pos)
			if n > 0 {
				chunk := append(tail, buf[:n]...)
				search(chunk)
				keep := max(0, min(len(chunk), maxLen-1))
				tail = append(tail[:0], chunk[len(chunk)-keep:]...)
				pos += int64(n)
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
		off = end
	}
	return nil
}

// --- TestEndToEnd ---------------------------------------------------------------

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	d := startDaemon(t, dataDir)

	// The generated admin token: a 0600 file, only its hash in the store,
	// never in the log.
	tokPath := filepath.Join(dataDir, "admin.token")
	fi, err := os.Stat(tokPath)
	if err != nil {
		t.Fatalf("admin.token: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("admin.token has mode %v, want 0600", perm)
	}
	if d.token == "" {
		t.Fatal("admin.token is empty")
	}
	tokenBytes, _ := os.ReadFile(tokPath)
	tokSum := sha256.Sum256([]byte(d.token))
	secretNeedles := map[string][]byte{"token": []byte(d.token)}
	if raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(d.token, "smt_")); err == nil && len(raw) >= 16 {
		secretNeedles["token's raw bytes"] = raw
		secretNeedles["token's raw bytes in hex"] = []byte(hex.EncodeToString(raw))
	}
	checkNoSecret := func(when string) {
		t.Helper()
		for what, file := range scanTree(t, filepath.Join(dataDir, "store"), secretNeedles) {
			t.Errorf("%s: the %s is in the store file %s", when, what, file)
		}
	}
	found := scanTree(t, filepath.Join(dataDir, "store"), map[string][]byte{"hash": []byte(hex.EncodeToString(tokSum[:]))})
	if _, ok := found["hash"]; !ok {
		t.Errorf("the admin token's sha256 is in no store file; where is it kept?")
	}
	checkNoSecret("first start")
	if strings.Contains(d.log.String(), d.token) {
		t.Errorf("the admin token is in the daemon's log")
	}

	// Auth: no token and a wrong token are refused; the public endpoints need none.
	d.callAs("", http.MethodGet, "/v1/vms", nil, http.StatusUnauthorized, nil)
	d.callAs("smt_not-the-token", http.MethodGet, "/v1/vms", nil, http.StatusUnauthorized, nil)
	d.callAs("", http.MethodGet, "/healthz", nil, http.StatusOK, nil)

	walkAPI(t, d)

	// Many acknowledged writes, each recorded with the state it must leave.
	wantVMs := map[string]vmJSON{}     // present after the restart, exactly so
	wantHosts := map[string]hostJSON{} // likewise
	goneVMs := map[string]bool{}       // acknowledged deletes
	goneHosts := map[string]bool{}
	everWWPN := map[string]string{} // every vport WWPN handed out -> VM id
	created := map[string]bool{}    // VM ids this test created

	const n = 30
	hostIDs := make([]string, n)
	for i := range n {
		var hbas []map[string]any
		if i%6 != 5 { // every sixth host is on fabric b only
			h := hbaSpec(fmt.Sprintf("10:00:00:00:c9:e2:%02x:0a", i), fmt.Sprintf("20:00:00:00:c9:e2:%02x:0a", i), "east-a")
			if i%3 == 0 {
				h["maxVports"] = 32
			}
			hbas = append(hbas, h)
		}
		// Another notation on input; canonical form on output.
		hbas = append(hbas, hbaSpec(fmt.Sprintf("10000000C9E2%02X0B", i), fmt.Sprintf("0x20000000c9e2%02x0b", i), "east-b"))
		spec := map[string]any{"name": fmt.Sprintf("e2e host %d", i), "site": "east", "hbas": hbas}
		if i != n-1 { // the last one gets a server-made id
			spec["id"] = fmt.Sprintf("e2e-h%02d", i)
		}
		var h hostJSON
		d.call(http.MethodPost, "/v1/hosts", spec, http.StatusCreated, &h)
		if id, ok := spec["id"]; ok && h.ID != id {
			t.Fatalf("host created as %q, asked for %q", h.ID, id)
		}
		if h.ID == "" {
			t.Fatalf("host created without an id: %+v", h)
		}
		for _, b := range h.HBAs {
			if b.WWPN != strings.ToLower(b.WWPN) || strings.Count(b.WWPN, ":") != 7 {
				t.Errorf("host %s: HBA WWPN %q is not in canonical form", h.ID, b.WWPN)
			}
		}
		hostIDs[i] = h.ID
		wantHosts[h.ID] = h
	}

	createVM := func(spec map[string]any) vmJSON {
		t.Helper()
		var v vmJSON
		d.call(http.MethodPost, "/v1/vms", spec, http.StatusCreated, &v)
		var fabrics []string
		for _, b := range wantHosts[v.Host].HBAs {
			fabrics = append(fabrics, b.Fabric)
		}
		if len(v.Vports) != 2*len(fabrics) {
			t.Errorf("vm %s on host %s (fabrics %v) got %d vports, want a pair per fabric", v.ID, v.Host, fabrics, len(v.Vports))
		}
		for _, p := range v.Vports {
			if !strings.HasPrefix(p.WWPN, "5") || strings.Count(p.WWPN, ":") != 7 {
				t.Errorf("vm %s: generated WWPN %q is not a canonical NAA 5 name", v.ID, p.WWPN)
			}
			if prev, dup := everWWPN[p.WWPN]; dup {
				t.Errorf("vm %s got WWPN %s, already handed to vm %s", v.ID, p.WWPN, prev)
			}
			everWWPN[p.WWPN] = v.ID
		}
		wantVMs[v.ID] = v
		created[v.ID] = true
		delete(goneVMs, v.ID)
		return v
	}
	vmIDs := make([]string, n)
	for i := range n {
		spec := map[string]any{"host": hostIDs[i]}
		if i%10 != 9 {
			spec["id"] = fmt.Sprintf("e2e-vm%02d", i)
		} else {
			spec["name"] = fmt.Sprintf("unnamed vm %d", i)
		}
		if i%4 == 0 {
			spec["shares"] = 2000
		}
		vmIDs[i] = createVM(spec).ID
	}

	// Merge patches.
	for i := range n {
		if i%4 != 1 {
			continue
		}
		var v vmJSON
		d.call(http.MethodPatch, "/v1/vms/"+vmIDs[i], map[string]any{"name": fmt.Sprintf("renamed-%d", i), "shares": 3000 + i}, http.StatusOK, &v)
		if v.Name != fmt.Sprintf("renamed-%d", i) || v.Shares != 3000+i || !slices.Equal(v.Vports, wantVMs[vmIDs[i]].Vports) {
			t.Errorf("PATCH vm %s answered %+v", vmIDs[i], v)
		}
		wantVMs[v.ID] = v
	}
	{ // an inventory correction: VM 8 now runs on host 20 (same fabrics)
		var v vmJSON
		d.call(http.MethodPatch, "/v1/vms/"+vmIDs[8], map[string]any{"host": hostIDs[20]}, http.StatusOK, &v)
		if v.Host != hostIDs[20] {
			t.Errorf("PATCH vm %s host: answered host %q", vmIDs[8], v.Host)
		}
		wantVMs[v.ID] = v
	}
	{ // a discovered VM, patched
		var v vmJSON
		d.call(http.MethodPatch, "/v1/vms/east-vm002", map[string]any{"shares": 4321}, http.StatusOK, &v)
		if v.Shares != 4321 {
			t.Errorf("PATCH east-vm002 shares: answered %d", v.Shares)
		}
		wantVMs[v.ID] = v
	}
	for i := range n {
		if i%7 != 3 {
			continue
		}
		var h hostJSON
		d.call(http.MethodPatch, "/v1/hosts/"+hostIDs[i], map[string]any{"name": fmt.Sprintf("host-renamed-%d", i)}, http.StatusOK, &h)
		if h.Name != fmt.Sprintf("host-renamed-%d", i) {
			t.Errorf("PATCH host %s answered name %q", h.ID, h.Name)
		}
		wantHosts[h.ID] = h
	}

	// Deletes; a host can go once its VM is gone.
	for i := range n {
		if i%5 != 2 {
			continue
		}
		d.call(http.MethodDelete, "/v1/vms/"+vmIDs[i], nil, http.StatusNoContent, nil)
		delete(wantVMs, vmIDs[i])
		goneVMs[vmIDs[i]] = true
		if i%10 == 2 {
			d.call(http.MethodDelete, "/v1/hosts/"+hostIDs[i], nil, http.StatusNoContent, nil)
			delete(wantHosts, hostIDs[i])
			goneHosts[hostIDs[i]] = true
		}
	}
	d.call(http.MethodDelete, "/v1/hosts/"+hostIDs[4], nil, http.StatusConflict, nil) // still runs e2e-vm04
	// A deleted id made again, on another host.
	createVM(map[string]any{"id": vmIDs[27], "host": hostIDs[28], "shares": 777})

	// The lab's own VMs as they are now; the restart must not change them.
	labBefore := map[string]vmJSON{}
	var all list[vmJSON]
	d.call(http.MethodGet, "/v1/vms", nil, http.StatusOK, &all)
	for _, v := range all.Items {
		if !created[v.ID] {
			labBefore[v.ID] = v
		}
	}
	if len(labBefore) != labVMs {
		t.Errorf("%d lab VMs before the restart, want %d", len(labBefore), labVMs)
	}
	// Sanity: the live daemon agrees with the record before anything is killed.
	verifyState(t, d, "before SIGKILL", wantVMs, wantHosts, goneVMs, goneHosts, labBefore)
	checkNoSecret("after the writes")

	// SIGKILL: no clean shutdown.
	d.kill()
	if ws, ok := d.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && (!ws.Signaled() || ws.Signal() != syscall.SIGKILL) {
		t.Fatalf("the daemon was not killed by SIGKILL: %v", d.cmd.ProcessState)
	}
	if strings.Contains(d.log.String(), "shutting down") {
		t.Fatal("the daemon shut down cleanly; this test needs a SIGKILL")
	}

	d2 := startDaemon(t, dataDir)
	if d2.token != d.token {
		t.Errorf("admin.token changed across the restart")
	}
	if after, _ := os.ReadFile(tokPath); !bytes.Equal(after, tokenBytes) {
		t.Errorf("admin.token was rewritten across the restart")
	}
	if n := len(d2.log.records("generated the admin token (only its hash is stored)")); n != 0 {
		t.Errorf("the restarted daemon generated a new admin token")
	}
	d2.call(http.MethodGet, "/v1/sites", nil, http.StatusOK, nil)
	verifyState(t, d2, "after SIGKILL and restart", wantVMs, wantHosts, goneVMs, goneHosts, labBefore)
	checkNoSecret("after the restart")
	if strings.Contains(d2.log.String(), d.token) {
		t.Errorf("the admin token is in the restarted daemon's log")
	}

	// The restarted daemon still hands out WWPNs no VM in the inventory has.
	var v vmJSON
	d2.call(http.MethodPost, "/v1/vms", map[string]any{"id": "e2e-after-restart", "host": hostIDs[0]}, http.StatusCreated, &v)
	var now list[vmJSON]
	d2.call(http.MethodGet, "/v1/vms", nil, http.StatusOK, &now)
	checkUniqueWWPNs(t, now.Items)
}

// walkAPI reads every resource of the walk list and checks its shape.
func walkAPI(t *testing.T, d *daemon) {
	t.Helper()
	var sites list[struct {
		ID string `json:"id"`
	}]
	d.call(http.MethodGet, "/v1/sites", nil, http.StatusOK, &sites)
	var siteIDs []string
	for _, s := range sites.Items {
		siteIDs = append(siteIDs, s.ID)
	}
	if !slices.Equal(siteIDs, []string{"east", "west"}) {
		t.Errorf("sites %v, want [east west]", siteIDs)
	}

	var links list[struct {
		From          string  `json:"from"`
		To            string  `json:"to"`
		RTTMs         float64 `json:"rttMs"`
		BandwidthMbps float64 `json:"bandwidthMbps"`
		DistanceKm    float64 `json:"distanceKm"`
	}]
	d.call(http.MethodGet, "/v1/links", nil, http.StatusOK, &links)
	if len(links.Items) == 0 || links.Items[0].From == "" || links.Items[0].BandwidthMbps <= 0 {
		t.Errorf("links: %+v", links.Items)
	}

	var fabrics list[struct {
		ID             string `json:"id"`
		Site           string `json:"site"`
		Driver         string `json:"driver"`
		ZoneCount      int    `json:"zoneCount"`
		ZoneDBMaxBytes int64  `json:"zoneDbMaxBytes"`
	}]
	d.call(http.MethodGet, "/v1/fabrics", nil, http.StatusOK, &fabrics)
	var fabricIDs []string
	for _, f := range fabrics.Items {
		fabricIDs = append(fabricIDs, f.ID)
		if f.Site == "" || f.Driver != "lab" || f.ZoneDBMaxBytes <= 0 {
			t.Errorf("fabric %+v", f)
		}
	}
	if !slices.Contains(fabricIDs, "east-a") || !slices.Contains(fabricIDs, "east-b") {
		t.Fatalf("fabrics %v lack east-a and east-b", fabricIDs)
	}
	d.call(http.MethodGet, "/v1/fabrics/east-a", nil, http.StatusOK, nil)
	d.call(http.MethodGet, "/v1/fabrics/no-such-fabric", nil, http.StatusNotFound, nil)

	var logins list[struct {
		WWPN string `json:"wwpn"`
		Kind string `json:"kind"`
	}]
	d.call(http.MethodGet, "/v1/fabrics/east-a/logins", nil, http.StatusOK, &logins)
	kinds := map[string]int{}
	for _, l := range logins.Items {
		kinds[l.Kind]++
	}
	if kinds["initiator"] == 0 || kinds["target"] == 0 {
		t.Errorf("east-a logins by kind %v: want initiators and targets", kinds)
	}

	var zones list[struct {
		Name    string   `json:"name"`
		Members []string `json:"members"`
		Owner   string   `json:"owner"`
	}]
	d.call(http.MethodGet, "/v1/fabrics/east-a/zones", nil, http.StatusOK, &zones)
	owners := map[string]int{}
	for _, z := range zones.Items {
		owners[z.Owner]++
	}
	if owners["sanmob"] == 0 {
		t.Errorf("east-a zones by owner %v: want sanmob's", owners)
	}

	var hosts list[hostJSON]
	d.call(http.MethodGet, "/v1/hosts", nil, http.StatusOK, &hosts)
	if len(hosts.Items) != labHosts {
		t.Errorf("%d hosts, want the lab's %d", len(hosts.Items), labHosts)
	}
	var vms list[vmJSON]
	d.call(http.MethodGet, "/v1/vms", nil, http.StatusOK, &vms)
	if len(vms.Items) != labVMs {
		t.Errorf("%d VMs, want the lab's %d", len(vms.Items), labVMs)
	}
	checkUniqueWWPNs(t, vms.Items)

	var topo struct {
		VM    string `json:"vm"`
		Paths []struct {
			Fabric         string `json:"fabric"`
			VportWWPN      string `json:"vportWWPN"`
			TargetPortWWPN string `json:"targetPortWWPN"`
			Array          string `json:"array"`
			Volume         string `json:"volume"`
		} `json:"paths"`
		Volumes []struct {
			ID string `json:"id"`
		} `json:"volumes"`
	}
	d.call(http.MethodGet, "/v1/vms/east-vm001/topology", nil, http.StatusOK, &topo)
	if topo.VM != "east-vm001" || len(topo.Paths) == 0 || len(topo.Volumes) == 0 {
		t.Errorf("topology of east-vm001: vm %q, %d paths, %d volumes", topo.VM, len(topo.Paths), len(topo.Volumes))
	}
	for _, p := range topo.Paths {
		if p.VportWWPN == "" || p.TargetPortWWPN == "" || p.Array == "" || p.Volume == "" {
			t.Errorf("incomplete path %+v", p)
			break
		}
	}

	for _, path := range []string{"/v1/arrays", "/v1/pools", "/v1/volumes", "/v1/snapshots"} {
		var l list[map[string]any]
		d.call(http.MethodGet, path, nil, http.StatusOK, &l)
		if len(l.Items) == 0 {
			t.Errorf("GET %s: no items", path)
		}
	}

	var clock struct {
		Now   time.Time `json:"now"`
		Speed float64   `json:"speed"`
	}
	d.call(http.MethodGet, "/v1/lab/clock", nil, http.StatusOK, &clock)
	if clock.Now.IsZero() || clock.Speed != 60 {
		t.Errorf("lab clock %+v, want a time and the default speed 60", clock)
	}

	var oa struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	d.call(http.MethodGet, "/v1/openapi.json", nil, http.StatusOK, &oa)
	if !strings.HasPrefix(oa.OpenAPI, "3.") {
		t.Errorf("openapi version %q", oa.OpenAPI)
	}
	for _, p := range []string{"/v1/vms", "/v1/vms/{id}", "/v1/hosts", "/v1/fabrics/{id}/zones"} {
		if _, ok := oa.Paths[p]; !ok {
			t.Errorf("openapi.json lacks %s", p)
		}
	}

	metrics := string(d.callAs("", http.MethodGet, "/metrics", nil, http.StatusOK, nil))
	if !strings.Contains(metrics, "# TYPE ") || !strings.Contains(metrics, "sanmob_") {
		t.Errorf("/metrics is not Prometheus text with sanmob_ metrics:\n%.500s", metrics)
	}
}

// verifyState checks that the daemon holds exactly the recorded state.
func verifyState(t *testing.T, d *daemon, when string, wantVMs map[string]vmJSON, wantHosts map[string]hostJSON,
	goneVMs, goneHosts map[string]bool, labVMsBefore map[string]vmJSON) {
	t.Helper()
	for id, want := range wantVMs {
		var got vmJSON
		d.call(http.MethodGet, "/v1/vms/"+id, nil, http.StatusOK, &got)
		if !sameVM(got, want) {
			t.Errorf("%s: vm %s is\n  %+v\nwant\n  %+v", when, id, got, want)
		}
	}
	for id := range goneVMs {
		d.call(http.MethodGet, "/v1/vms/"+id, nil, http.StatusNotFound, nil)
	}
	for id, want := range wantHosts {
		var got hostJSON
		d.call(http.MethodGet, "/v1/hosts/"+id, nil, http.StatusOK, &got)
		if !sameHost(got, want) {
			t.Errorf("%s: host %s is\n  %+v\nwant\n  %+v", when, id, got, want)
		}
	}
	for id := range goneHosts {
		d.call(http.MethodGet, "/v1/hosts/"+id, nil, http.StatusNotFound, nil)
	}

	var vms list[vmJSON]
	d.call(http.MethodGet, "/v1/vms", nil, http.StatusOK, &vms)
	seen := map[string]bool{}
	labCount := 0
	for _, v := range vms.Items {
		seen[v.ID] = true
		if goneVMs[v.ID] {
			t.Errorf("%s: deleted vm %s is listed", when, v.ID)
		}
		if want, ok := labVMsBefore[v.ID]; ok {
			labCount++
			if _, patched := wantVMs[v.ID]; !patched && !sameVM(v, want) {
				t.Errorf("%s: lab vm %s changed:\n  %+v\nwas\n  %+v", when, v.ID, v, want)
			}
		} else if _, ours := wantVMs[v.ID]; !ours {
			t.Errorf("%s: vm %s is listed but was never created", when, v.ID)
		}
	}
	if labCount != labVMs {
		t.Errorf("%s: %d of the lab's %d VMs are listed", when, labCount, labVMs)
	}
	for id := range wantVMs {
		if !seen[id] {
			t.Errorf("%s: vm %s is not listed", when, id)
		}
	}
	if want := labVMs + len(wantVMs) - countPatchedLab(wantVMs, labVMsBefore); len(vms.Items) != want {
		t.Errorf("%s: %d VMs listed, want %d", when, len(vms.Items), want)
	}
	checkUniqueWWPNs(t, vms.Items)

	var hosts list[hostJSON]
	d.call(http.MethodGet, "/v1/hosts", nil, http.StatusOK, &hosts)
	if want := labHosts + len(wantHosts); len(hosts.Items) != want {
		t.Errorf("%s: %d hosts listed, want %d", when, len(hosts.Items), want)
	}
	for _, h := range hosts.Items {
		if goneHosts[h.ID] {
			t.Errorf("%s: deleted host %s is listed", when, h.ID)
		}
	}
}

func countPatchedLab(want, lab map[string]vmJSON) int {
	n := 0
	for id := range want {
		if _, ok := lab[id]; ok {
			n++
		}
	}
	return n
}

// checkUniqueWWPNs: no two vports anywhere share a WWPN (two logins with one
// WWPN break a fabric).
func checkUniqueWWPNs(t *testing.T, vms []vmJSON) {
	t.Helper()
	owner := map[string]string{}
	for _, v := range vms {
		for _, p := range v.Vports {
			if o, dup := owner[p.WWPN]; dup {
				t.Errorf("WWPN %s belongs to both vm %s and vm %s", p.WWPN, o, v.ID)
			}
			owner[p.WWPN] = v.ID
		}
	}
}

// --- TestKillDuringWrites -------------------------------------------------------

func TestKillDuringWrites(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	d := startDaemon(t, dataDir)

	hosts := make([]string, 4)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("kill-h%d", i)
		d.call(http.MethodPost, "/v1/hosts", map[string]any{"id": hosts[i], "site": "east", "hbas": []any{
			hbaSpec(fmt.Sprintf("10:00:00:00:c9:4b:%02x:0a", i), fmt.Sprintf("20:00:00:00:c9:4b:%02x:0a", i), "east-a"),
			hbaSpec(fmt.Sprintf("10:00:00:00:c9:4b:%02x:0b", i), fmt.Sprintf("20:00:00:00:c9:4b:%02x:0b", i), "east-b"),
		}}, http.StatusCreated, nil)
	}

	const (
		workers = 4
		enough  = 50
	)
	var (
		mu       sync.Mutex
		acked    = map[string]vmJSON{}
		inFlight = map[string]bool{} // sent, no answer
		refused  = map[string]string{}
		nAcked   atomic.Int64
		stop     = make(chan struct{})
		reached  = make(chan struct{})
		once     sync.Once
		wg       sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("kill-vm-%d-%04d", w, i)
				mu.Lock()
				inFlight[id] = true
				mu.Unlock()
				st, raw, err := d.request(http.MethodPost, "/v1/vms", d.token, map[string]any{"id": id, "host": hosts[(w+i)%len(hosts)]})
				if err != nil {
					return // the daemon is gone
				}
				mu.Lock()
				delete(inFlight, id)
				if st == http.StatusCreated {
					var v vmJSON
					if err := json.Unmarshal(raw, &v); err != nil || v.ID != id {
						refused[id] = fmt.Sprintf("201 with a body that is not vm %s: %s", id, raw)
					} else {
						acked[id] = v
					}
				} else {
					refused[id] = fmt.Sprintf("%d %s", st, raw)
				}
				mu.Unlock()
				if st == http.StatusCreated && nAcked.Add(1) >= enough {
					once.Do(func() { close(reached) })
				}
				if st != http.StatusCreated {
					return
				}
			}
		})
	}
	select {
	case <-reached:
	case <-d.done:
		t.Fatalf("the daemon died during the writes:\n%s", d.log.String())
	case <-time.After(60 * time.Second):
		close(stop)
		wg.Wait()
		t.Fatalf("only %d creates acknowledged in 60s; refused: %v", nAcked.Load(), refused)
	}
	d.kill() // writes are in flight: the workers have not been told to stop
	close(stop)
	wg.Wait()
	if len(refused) > 0 {
		t.Fatalf("creates refused before the kill: %v", refused)
	}
	t.Logf("%d creates acknowledged, %d in flight at the SIGKILL", len(acked), len(inFlight))

	d2 := startDaemon(t, dataDir)
	for id, want := range acked {
		var got vmJSON
		d2.call(http.MethodGet, "/v1/vms/"+id, nil, http.StatusOK, &got)
		if !sameVM(got, want) {
			t.Errorf("acknowledged vm %s came back as\n  %+v\nwant\n  %+v", id, got, want)
		}
	}
	for id := range inFlight {
		st, raw, err := d2.request(http.MethodGet, "/v1/vms/"+id, d2.token, nil)
		if err != nil || (st != http.StatusOK && st != http.StatusNotFound) {
			t.Errorf("unacknowledged vm %s: %d %s %v", id, st, raw, err)
		}
	}
	var all list[vmJSON]
	d2.call(http.MethodGet, "/v1/vms", nil, http.StatusOK, &all)
	if len(all.Items) < labVMs+len(acked) || len(all.Items) > labVMs+len(acked)+len(inFlight) {
		t.Errorf("%d VMs after the restart, want %d to %d", len(all.Items), labVMs+len(acked), labVMs+len(acked)+len(inFlight))
	}
	checkUniqueWWPNs(t, all.Items)
	// And it takes writes again.
	d2.call(http.MethodPost, "/v1/vms", map[string]any{"id": "kill-vm-after", "host": hosts[0]}, http.StatusCreated, nil)
}

// --- TestSIGTERM ----------------------------------------------------------------

func TestSIGTERM(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	d := startDaemon(t, dataDir)
	d.call(http.MethodPost, "/v1/hosts", map[string]any{"id": "term-h0", "site": "west", "hbas": []any{
		hbaSpec("10:00:00:00:c9:7e:00:0a", "20:00:00:00:c9:7e:00:0a", "west-a"),
	}}, http.StatusCreated, nil)
	// Open streams (SSE) must not hold the shutdown for its grace.
	for _, path := range []string{"/v1/alerts/stream", "/v1/hosts/west-esx02/queue-depths?watch=true"} {
		req, err := http.NewRequest(http.MethodGet, d.base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+d.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %v %v", path, resp, err)
		}
		defer resp.Body.Close()
		go func() { _, _ = io.Copy(io.Discard, resp.Body) }()
	}

	// SIGHUP without TLS reloads nothing and stops nothing.
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); len(d.log.records("SIGHUP: nothing to reload (no --tls-cert); still serving")) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line for SIGHUP without TLS:\n%s", d.log.String())
		}
	}
	d.call(http.MethodGet, "/v1/hosts/term-h0", nil, http.StatusOK, nil)

	signalled := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("sanmobd still runs 15s after SIGTERM:\n%s", d.log.String())
	}
	if took := time.Since(signalled); took > 5*time.Second {
		t.Errorf("shutdown with two open streams took %v: the streams held it", took)
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d after SIGTERM (%v), want 0:\n%s", code, d.cmd.ProcessState, d.log.String())
	}
	if len(d.log.records("shutting down")) == 0 {
		t.Errorf("no \"shutting down\" in the log:\n%s", d.log.String())
	}

	// A clean shutdown leaves a store that opens again with the write in it.
	d2 := startDaemon(t, dataDir)
	d2.call(http.MethodGet, "/v1/hosts/term-h0", nil, http.StatusOK, nil)
}

// --- TestBadFlags ---------------------------------------------------------------

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func hashHex(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

func TestBadFlags(t *testing.T) {
	t.Parallel()
	bin := daemonBin(t)
	cfgDir := t.TempDir()
	cfg := func(name, content string) string {
		p := filepath.Join(cfgDir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		args []string
		want []string // all in the output
	}{
		{name: "log format", args: []string{"--log-format", "xml"}, want: []string{"--log-format", "xml"}},
		{name: "log level", args: []string{"--log-level", "verbose"}, want: []string{"--log-level", "verbose"}},
		{name: "lab speed zero", args: []string{"--lab-speed", "0"}, want: []string{"--lab-speed"}},
		{name: "lab speed negative", args: []string{"--lab-speed", "-2"}, want: []string{"--lab-speed"}},
		{name: "lab speed too fast", args: []string{"--lab-speed", "1e7"}, want: []string{"--lab-speed"}},
		{name: "lab speed not a number", args: []string{"--lab-speed", "fast"}, want: []string{"lab-speed"}},
		{name: "lab speed NaN", args: []string{"--lab-speed", "NaN"}, want: []string{"--lab-speed"}},
		{name: "listen", args: []string{"--listen", "nonsense"}, want: []string{"--listen", "nonsense"}},
		{name: "csi endpoint", args: []string{"--csi-endpoint", "http://x"}, want: []string{"--csi-endpoint"}},
		{name: "alert webhook", args: []string{"--alert-webhook", "ftp://x"}, want: []string{"--alert-webhook", "ftp://x"}},
		{name: "negative pool sample period", args: []string{"--pool-sample-period", "-1s"}, want: []string{"--pool-sample-period"}},
		{name: "second alert webhook", args: []string{"--alert-webhook", "http://ok.example/hook", "--alert-webhook", "nohost"}, want: []string{"--alert-webhook", "nohost"}},
		{name: "alertmanager url", args: []string{"--alertmanager-url", "localhost:9093"}, want: []string{"--alertmanager-url", "localhost:9093"}},
		{name: "alert group wait", args: []string{"--alert-group-wait", "-1s"}, want: []string{"--alert-group-wait"}},
		{name: "alert resend interval", args: []string{"--alert-resend-interval", "-1s"}, want: []string{"--alert-resend-interval"}},
		{name: "alert external url", args: []string{"--alert-external-url", "sanmob:8080"}, want: []string{"--alert-external-url"}},
		{name: "config alert webhook", args: []string{"--config", cfg("hook.yaml", "alerts:\n  webhooks: [\"mailto:ops\"]\n")}, want: []string{"alerts.webhooks[0]", "mailto:ops"}},
		{name: "config alert group wait", args: []string{"--config", cfg("gw.yaml", "alerts:\n  groupWait: soon\n")}, want: []string{"alerts.groupWait", "soon"}},
		{name: "lab size", args: []string{"--lab-size", "huge"}, want: []string{"--lab-size", "huge"}},
		{name: "refresh interval", args: []string{"--refresh-interval", "-1s"}, want: []string{"--refresh-interval"}},
		{name: "unknown flag", args: []string{"--colour", "red"}, want: []string{"colour"}},
		{name: "positional argument", args: []string{"serve"}, want: []string{"unexpected", "serve"}},
		{name: "missing config", args: []string{"--config", "/nonexistent.yaml"}, want: []string{"--config", "/nonexistent.yaml"}},
		{name: "config unknown key", args: []string{"--config", cfg("unknown.yaml", "tokens: []\ncolour: red\n")}, want: []string{"--config", "colour"}},
		{name: "config not yaml", args: []string{"--config", cfg("garbage.yaml", "tokens: [unclosed\n")}, want: []string{"--config"}},
		{name: "config root role", args: []string{"--config", cfg("root.yaml",
			"tokens:\n  - name: boss\n    role: root\n    sha256: "+hashHex("boss-token")+"\n")}, want: []string{"--config", "role", "root"}},
		{name: "config bad hash", args: []string{"--config", cfg("hash.yaml",
			"tokens:\n  - name: boss\n    role: admin\n    sha256: boss-token\n")}, want: []string{"--config", "sha256"}},
		{name: "config token without name", args: []string{"--config", cfg("noname.yaml",
			"tokens:\n  - role: viewer\n    sha256: "+hashHex("x")+"\n")}, want: []string{"--config", "name"}},
		{name: "config fabrics", args: []string{"--config", cfg("fabrics.yaml",
			"fabrics:\n  - id: core-a\n    driver: brocade\n    url: https://switch.example\n")}, want: []string{"--config", "fabrics"}},
		{name: "config arrays", args: []string{"--config", cfg("arrays.yaml",
			"arrays:\n  - id: a1\n    driver: 3par\n")}, want: []string{"--config", "arrays"}},
		{name: "config lab size", args: []string{"--config", cfg("labsize.yaml", "lab:\n  size: huge\n")}, want: []string{"lab.size", "huge"}},
		{name: "config zoning mode", args: []string{"--config", cfg("zmode.yaml", "zoning:\n  mode: eager\n")}, want: []string{"zoning.mode", "eager"}},
		{name: "config zoning unknown fabric", args: []string{"--config", cfg("zfab.yaml", "zoning:\n  policies:\n    north-a: peer\n")}, want: []string{"zoning.policies", "north-a"}},
		{name: "config zoning policy", args: []string{"--config", cfg("zpol.yaml", "zoning:\n  policies:\n    east-a: smart\n")}, want: []string{"zoning.policies.east-a", "smart"}},
		{name: "config npiv oui", args: []string{"--config", cfg("oui.yaml", "npiv:\n  pools:\n    - oui: 00:1a\n      first: 1\n      last: 9\n")}, want: []string{"npiv.pools[0].oui"}},
		{name: "config npiv overlap", args: []string{"--config", cfg("overlap.yaml", "npiv:\n  pools:\n    - oui: 00:1a:4a\n      first: 1\n      last: 9\n    - oui: 00:1a:4a\n      first: 5\n      last: 20\n")}, want: []string{"npiv.pools", "overlap"}},
		{name: "config lab speed negative", args: []string{"--config", cfg("labspeed.yaml", "lab:\n  speed: -5\n")}, want: []string{"lab.speed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dataDir := filepath.Join(t.TempDir(), "data")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			args := append([]string{"--data-dir", dataDir, "--listen", "127.0.0.1:0"}, tc.args...)
			start := time.Now()
			out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
			var ee *exec.ExitError
			switch {
			case ctx.Err() != nil:
				t.Fatalf("sanmobd %v still ran after 10s (the bad flag was accepted):\n%s", tc.args, out)
			case err == nil:
				t.Fatalf("sanmobd %v exited 0:\n%s", tc.args, out)
			case !errors.As(err, &ee):
				t.Fatalf("sanmobd %v: %v", tc.args, err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("sanmobd %v took %v to refuse", tc.args, took)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("sanmobd %v: the message does not name %q:\n%s", tc.args, w, out)
				}
			}
			// New validates and opens nothing: a refused start leaves no trace.
			if _, err := os.Stat(dataDir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("sanmobd %v created the data dir before refusing to start (%v)", tc.args, err)
			}
		})
	}
}

// --- TestConfigTokens -------------------------------------------------------------

func TestConfigTokens(t *testing.T) {
	t.Parallel()
	const (
		viewerTok = "viewer-token-e2e-0123456789abcdef"
		adminTok  = "admin-token-e2e-fedcba9876543210"
	)
	conf := writeFile(t, "sanmob.yaml", fmt.Sprintf(`tokens:
  - name: watcher
    role: viewer
    sha256: %s
  - name: boss
    role: admin
    sha256: %s
`, hashHex(viewerTok), hashHex(adminTok)))
	dataDir := t.TempDir()
	d := startDaemon(t, dataDir, "--config", conf)

	if _, err := os.Stat(filepath.Join(dataDir, "admin.token")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("admin.token exists with tokens configured (%v)", err)
	}
	if n := len(d.log.records("generated the admin token (only its hash is stored)")); n != 0 {
		t.Errorf("the daemon generated an admin token with tokens configured")
	}

	var vms list[vmJSON]
	d.callAs(viewerTok, http.MethodGet, "/v1/vms", nil, http.StatusOK, &vms)
	if len(vms.Items) != labVMs {
		t.Errorf("viewer sees %d VMs, want %d", len(vms.Items), labVMs)
	}
	d.callAs(viewerTok, http.MethodGet, "/v1/vms/east-vm001/topology", nil, http.StatusOK, nil)
	spec := map[string]any{"id": "viewer-made", "host": "east-esx01"}
	d.callAs(viewerTok, http.MethodPost, "/v1/vms", spec, http.StatusForbidden, nil)
	d.callAs(viewerTok, http.MethodDelete, "/v1/vms/east-vm001", nil, http.StatusForbidden, nil)
	d.callAs(viewerTok, http.MethodGet, "/v1/lab/clock", nil, http.StatusForbidden, nil) // lab routes are admin's
	d.callAs(adminTok, http.MethodGet, "/v1/vms/viewer-made", nil, http.StatusNotFound, nil)

	d.callAs("random-"+hashHex("nobody")[:20], http.MethodGet, "/v1/vms", nil, http.StatusUnauthorized, nil)
	d.callAs(hashHex(viewerTok), http.MethodGet, "/v1/vms", nil, http.StatusUnauthorized, nil) // the hash is not the token
	d.callAs("", http.MethodGet, "/v1/vms", nil, http.StatusUnauthorized, nil)
	d.callAs("", http.MethodGet, "/readyz", nil, http.StatusOK, nil)

	var v vmJSON
	d.callAs(adminTok, http.MethodPost, "/v1/vms", map[string]any{"id": "admin-made", "host": "east-esx01"}, http.StatusCreated, &v)
	d.callAs(viewerTok, http.MethodGet, "/v1/vms/admin-made", nil, http.StatusOK, nil)
	d.callAs(adminTok, http.MethodGet, "/v1/lab/clock", nil, http.StatusOK, nil)

	// The principal is logged by name, the token never.
	logs := d.log.String()
	if strings.Contains(logs, viewerTok) || strings.Contains(logs, adminTok) {
		t.Errorf("a token is in the daemon's log")
	}
}

// --- known bugs -----------------------------------------------------------------

// TestGeneratedWWPNsNotReusedAfterRestart: within one process the vport name
// generator never hands out a deleted VM's WWPNs again (its cursor only moves
// forward), but a restart resets the cursor and they are handed out again —
// while the deleted VM's zones and LUN masking are still on the devices
// (DeleteVM does not touch them), so the new VM inherits its storage.
func TestGeneratedWWPNsNotReusedAfterRestart(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	d := startDaemon(t, dataDir)
	d.call(http.MethodPost, "/v1/hosts", map[string]any{"id": "reuse-h0", "site": "east", "hbas": []any{
		hbaSpec("10:00:00:00:c9:5e:00:0a", "20:00:00:00:c9:5e:00:0a", "east-a"),
	}}, http.StatusCreated, nil)
	var old vmJSON
	d.call(http.MethodPost, "/v1/vms", map[string]any{"id": "reuse-old", "host": "reuse-h0"}, http.StatusCreated, &old)
	d.call(http.MethodDelete, "/v1/vms/reuse-old", nil, http.StatusNoContent, nil)
	var same vmJSON // same process: no reuse
	d.call(http.MethodPost, "/v1/vms", map[string]any{"id": "reuse-same", "host": "reuse-h0"}, http.StatusCreated, &same)
	d.kill()

	d2 := startDaemon(t, dataDir)
	var fresh vmJSON
	d2.call(http.MethodPost, "/v1/vms", map[string]any{"id": "reuse-new", "host": "reuse-h0"}, http.StatusCreated, &fresh)
	retired := map[string]bool{}
	for _, p := range old.Vports {
		retired[p.WWPN] = true
	}
	var reused []string
	for _, p := range append(same.Vports, fresh.Vports...) {
		if retired[p.WWPN] {
			reused = append(reused, p.WWPN)
		}
	}
	sort.Strings(reused)
	if len(reused) > 0 {
		t.Errorf("deleted vm reuse-old's WWPNs %v were handed out again", reused)
	}
}

// --- TestConfigZoningAndNPIV -------------------------------------------------------

// TestConfigZoningAndNPIV: the config file chooses a fabric's zoning policy
// and where generated vport names come from, and the daemon does as told.
func TestConfigZoningAndNPIV(t *testing.T) {
	t.Parallel()
	conf := writeFile(t, "zoning.yaml", `zoning:
  mode: group
  policies:
    east-a: peer
npiv:
  pools:
    - oui: "00:05:69"
      first: 4096
      last: 8191
`)
	d := startDaemon(t, t.TempDir(), "--config", conf)
	var f map[string]any
	d.call(http.MethodGet, "/v1/fabrics/east-a", nil, http.StatusOK, &f)
	if f["zonePolicy"] != "peer" {
		t.Errorf("east-a zonePolicy %v, want peer", f["zonePolicy"])
	}
	d.call(http.MethodGet, "/v1/fabrics/east-b", nil, http.StatusOK, &f)
	if f["zonePolicy"] != "sist" {
		t.Errorf("east-b zonePolicy %v, want sist", f["zonePolicy"])
	}
	var v vmJSON
	d.call(http.MethodPost, "/v1/vms", map[string]any{"id": "pooled", "host": "east-esx01"}, http.StatusCreated, &v)
	if len(v.Vports) == 0 {
		t.Fatal("no vports generated")
	}
	for _, p := range v.Vports {
		if !strings.HasPrefix(p.WWPN, "50:00:56:9") {
			t.Errorf("vport %s is not from the configured VMware pool (5 + 00:05:69)", p.WWPN)
		}
	}
}

// --- TestAttachmentSurvivesSIGKILL -------------------------------------------------

// TestAttachmentSurvivesSIGKILL: an acknowledged attach is a record that a
// SIGKILL does not lose; after the restart — where the lab's devices, like
// real ones, still hold the masking and the zones — the attachment is still
// listed, nothing drifted, and a detach then removes exactly its zones.
func TestAttachmentSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	d := startDaemon(t, dataDir)
	var vol struct {
		ID string `json:"id"`
	}
	d.call(http.MethodPost, "/v1/volumes", map[string]any{"name": "kill-me-not", "sizeBytes": 1 << 30, "site": "east"}, http.StatusCreated, &vol)
	var at struct {
		LUN            int               `json:"lun"`
		PublishContext map[string]string `json:"publishContext"`
	}
	d.call(http.MethodPost, "/v1/attachments", map[string]any{"volume": vol.ID, "node": "east-esx03"}, http.StatusCreated, &at)
	d.kill()

	d2 := startDaemon(t, dataDir)
	var list struct {
		Items []struct {
			Volume string `json:"volume"`
			Node   string `json:"node"`
			LUN    int    `json:"lun"`
		} `json:"items"`
	}
	d2.call(http.MethodGet, "/v1/attachments", nil, http.StatusOK, &list)
	if len(list.Items) != 1 || list.Items[0].Volume != vol.ID || list.Items[0].Node != "east-esx03" || list.Items[0].LUN != at.LUN {
		t.Fatalf("attachments after SIGKILL and restart: %+v", list.Items)
	}
	var drift struct {
		Missing []struct {
			Name string `json:"name"`
		} `json:"missing"`
		Repaired bool `json:"repaired"`
	}
	// The lab's devices outlive the daemon, as real ones do: the zones the
	// attach made are still on the switch, and nothing needs repair.
	d2.call(http.MethodPost, "/v1/fabrics/east-a/reconcile", nil, http.StatusOK, &drift)
	if len(drift.Missing) != 0 {
		t.Fatalf("drift on east-a after a restart: %+v", drift)
	}
	d2.call(http.MethodDelete, "/v1/attachments/"+vol.ID+"/east-esx03", nil, http.StatusNoContent, nil)
	var zones struct {
		Zones []struct {
			Name string `json:"name"`
		} `json:"zones"`
	}
	d2.call(http.MethodGet, "/v1/lab/fabrics/east-a/zonedb", nil, http.StatusOK, &zones)
	for _, z := range zones.Zones {
		if strings.HasPrefix(z.Name, "sm_east-esx03_") {
			t.Fatalf("zone %s left after the detach", z.Name)
		}
	}
}

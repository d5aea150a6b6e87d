package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/wwn"
	"github.com/sanmob/sanmob/lab"

	"github.com/sanmob/sanmob/server"
)

// Config is everything sanmobd is started with: flags, and the config file
// they name.
type Config struct {
	ConfigFile  string
	DataDir     string
	Listen      string
	CSIEndpoint string
	Lab         bool
	LabSpeed    float64
	LabSeed     int64
	LabSize     string
	LabReset    bool // discard the lab's device state under <data-dir>/lab: start from the seed
	// LabWorkloads grows the lab's pools by the models the seed draws
	// (lab.Config's Workloads): one of them heads for full.
	LabWorkloads bool
	// LabFabricPairs is the lab's fabric pairs a site (lab.Config's
	// FabricPairsPerSite): 0 or 1, fabrics a and b; 2 adds c and d...
	LabFabricPairs int
	// Compute is the compute driver: "lab" (sanmob drives the lab's
	// hypervisor) or "external" (a hypervisor manager moves VMs and reports
	// through POST /v1/migrations/{id}/compute; docs/compute-external.md).
	Compute        string
	ComputeTimeout time.Duration // how long an external move waits for its report
	AlertWebhooks  []string
	// Alert delivery (alerts.go): Alertmanagers to push to, the webhook
	// group wait and labels, the push's resend interval, sanmob's URL.
	Alertmanagers       []string
	AlertGroupWait      time.Duration
	AlertGroupBy        []string
	AlertResendInterval time.Duration
	AlertExternalURL    string
	LogFormat           string
	LogLevel            string
	RefreshInterval     time.Duration
	PoolSamplePeriod    time.Duration
	// Queue depths: the control period and the default thresholds.
	QueueDepthPeriod                        time.Duration
	QueueThresholdDisk, QueueThresholdFlash time.Duration
	// LabIO has the lab's hosts send I/O telemetry (labio.go).
	LabIO       bool
	PprofListen string
	// TLS (tls.go): the server certificate of REST and of CSI on TCP, the
	// CA REST client certificates must chain to (optional), the CA CSI
	// client certificates must chain to (required on tcp://), and the
	// explicit opt-out of TLS on a tcp:// CSI endpoint.
	TLSCert, TLSKey string
	TLSClientCA     string
	CSIClientCA     string
	CSIInsecureTCP  bool

	file fileConfig
}

// fileConfig is the YAML config file.
type fileConfig struct {
	Tokens []struct {
		Name   string `yaml:"name"`
		Role   string `yaml:"role"`
		SHA256 string `yaml:"sha256"`
	} `yaml:"tokens"`
	Lab *struct {
		Seed          *int64   `yaml:"seed"`
		Size          string   `yaml:"size"`
		Speed         *float64 `yaml:"speed"`
		HostsPerSite  int      `yaml:"hostsPerSite"`
		VMsPerSite    int      `yaml:"vmsPerSite"`
		ArraysPerSite int      `yaml:"arraysPerSite"`
		Sites         []string `yaml:"sites"`
	} `yaml:"lab"`
	Zoning *struct {
		// Mode is group (the default: group commit) or serial (one commit
		// per request, OpenStack's way; for comparison only).
		Mode string `yaml:"mode"`
		// Policies by fabric id: sist (the default) or peer.
		Policies map[string]string `yaml:"policies"`
	} `yaml:"zoning"`
	NPIV *struct {
		// Pools the generated vport WWPNs come from, NAA 5: OUI (as
		// "00:1a:4a") and the range of the 36-bit vendor part.
		Pools []struct {
			OUI   string `yaml:"oui"`
			First uint64 `yaml:"first"`
			Last  uint64 `yaml:"last"`
		} `yaml:"pools"`
	} `yaml:"npiv"`
	Alerts     *alertFile `yaml:"alerts"`
	QueueDepth *struct {
		// Thresholds are latency thresholds by pool id, as Go durations
		// ("5ms"); pools not named get --queue-threshold-flash or -disk.
		Thresholds map[string]string `yaml:"thresholds"`
	} `yaml:"queueDepth"`
	Fabrics []map[string]any `yaml:"fabrics"`
	Arrays  []map[string]any `yaml:"arrays"`
}

func (c *Config) validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir must not be empty"))
	}
	switch c.Compute {
	case "", "lab", "external":
	default:
		errs = append(errs, fmt.Errorf("--compute %q: want lab or external", c.Compute))
	}
	if c.ComputeTimeout < 0 || c.Compute == "external" && c.ComputeTimeout == 0 {
		errs = append(errs, fmt.Errorf("--compute-timeout %v: must be positive", c.ComputeTimeout))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: %v", c.Listen, err))
	}
	if c.CSIEndpoint == "" {
		c.CSIEndpoint = "unix://" + strings.TrimSuffix(c.DataDir, "/") + "/csi.sock"
	}
	if u, err := url.Parse(c.CSIEndpoint); err != nil || (u.Scheme != "unix" && u.Scheme != "tcp") {
		errs = append(errs, fmt.Errorf("--csi-endpoint %q: want unix://PATH or tcp://ADDR", c.CSIEndpoint))
	}
	errs = append(errs, c.checkTLS()...)
	if !(c.LabSpeed > 0 && c.LabSpeed <= 1e6) { // also refuses NaN
		errs = append(errs, fmt.Errorf("--lab-speed %v: must be in (0, 1e6]", c.LabSpeed))
	}
	if c.LabSize != "small" && c.LabSize != "large" {
		errs = append(errs, fmt.Errorf("--lab-size %q: small or large", c.LabSize))
	}
	if c.LabFabricPairs < 0 {
		errs = append(errs, fmt.Errorf("--lab-fabric-pairs %d: must not be negative", c.LabFabricPairs))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q: text or json", c.LogFormat))
	}
	if c.PprofListen != "" {
		if _, _, err := net.SplitHostPort(c.PprofListen); err != nil {
			errs = append(errs, fmt.Errorf("--pprof-listen %q: %v", c.PprofListen, err))
		}
	}
	if c.PoolSamplePeriod < 0 {
		errs = append(errs, errors.New("--pool-sample-period must not be negative"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--queue-depth-period", c.QueueDepthPeriod}, {"--queue-threshold-disk", c.QueueThresholdDisk}, {"--queue-threshold-flash", c.QueueThresholdFlash}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative", d.name))
		}
	}
	if c.RefreshInterval < 0 {
		errs = append(errs, errors.New("--refresh-interval must not be negative"))
	}
	if c.ConfigFile != "" {
		raw, err := os.ReadFile(c.ConfigFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("--config: %w", err))
		} else {
			for _, err := range decodeConfigFile(raw, &c.file) {
				errs = append(errs, fmt.Errorf("--config %s %w", c.ConfigFile, err))
			}
		}
		if _, err := c.queueThresholds(); err != nil {
			errs = append(errs, err)
		}
		names, hashes := map[string]int{}, map[string]int{}
		for i, t := range c.file.Tokens {
			if t.Name == "" {
				errs = append(errs, fmt.Errorf("--config: tokens[%d].name is required", i))
			}
			if j, dup := names[t.Name]; dup && t.Name != "" {
				errs = append(errs, fmt.Errorf("--config: tokens[%d] and tokens[%d] are both named %q: give each token its own name (the logs say which one called)", j, i, t.Name))
			}
			names[t.Name] = i
			if j, dup := hashes[strings.ToLower(t.SHA256)]; dup && t.SHA256 != "" {
				errs = append(errs, fmt.Errorf("--config: tokens[%d] and tokens[%d] have the same sha256: one token would have two roles", j, i))
			}
			hashes[strings.ToLower(t.SHA256)] = i
			if _, err := server.ParseRole(t.Role); err != nil {
				errs = append(errs, fmt.Errorf("--config: tokens[%d].role: %w", i, err))
			}
			if _, err := server.ParseTokenHash(t.SHA256); err != nil {
				errs = append(errs, fmt.Errorf("--config: tokens[%d].sha256: %w", i, err))
			}
		}
		if (len(c.file.Fabrics) > 0 || len(c.file.Arrays) > 0) && !c.Lab {
			// Honest refusal: fabric/brocade exists, but the daemon cannot yet
			// run without the lab's arrays and hypervisor manager.
			errs = append(errs, errors.New("--config names real fabrics or arrays, but this build drives only the embedded lab (the Brocade driver exists as a package; array and hypervisor drivers do not yet); remove them, or pass --lab to ignore them"))
		}
		if l := c.file.Lab; l != nil {
			if l.Size != "" && l.Size != "small" && l.Size != "large" {
				errs = append(errs, fmt.Errorf("--config: lab.size %q: small or large", l.Size))
			}
			if l.Speed != nil && !(*l.Speed > 0 && *l.Speed <= 1e6) {
				errs = append(errs, fmt.Errorf("--config: lab.speed %v: must be in (0, 1e6]", *l.Speed))
			}
			for name, n := range map[string]int{"hostsPerSite": l.HostsPerSite, "vmsPerSite": l.VMsPerSite, "arraysPerSite": l.ArraysPerSite} {
				if n < 0 {
					errs = append(errs, fmt.Errorf("--config: lab.%s %d: must not be negative", name, n))
				}
			}
		}
	}
	errs = append(errs, c.checkAlerts()...)
	if len(errs) == 0 {
		// The whole lab world is checked here, before anything touches disk.
		lc := c.labConfig()
		if err := lc.Validate(); err != nil {
			errs = append(errs, err) // the lab's errors name the lab
		}
		errs = append(errs, c.checkZoning(lc)...)
		if _, err := c.vportPools(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// csiTCP says whether the CSI endpoint is on TCP.
func (c *Config) csiTCP() bool { return strings.HasPrefix(c.CSIEndpoint, "tcp://") }

// tlsOn says whether the REST API (and a tcp:// CSI endpoint) serve TLS.
func (c *Config) tlsOn() bool { return c.TLSCert != "" }

// certFiles are the files of the TLS flags; validated with checkTLS.
func (c *Config) certFiles() certFiles {
	return certFiles{cert: c.TLSCert, key: c.TLSKey, restCA: c.TLSClientCA, csiCA: c.CSIClientCA}
}

// checkTLS checks the TLS flags together (the files are read by New): a
// tcp:// CSI endpoint takes mutual TLS or an explicit --csi-insecure-tcp.
func (c *Config) checkTLS() []error {
	var errs []error
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together: pass both (the certificate and its private key, PEM) or neither"))
	}
	if c.TLSClientCA != "" && c.TLSCert == "" {
		errs = append(errs, errors.New("--tls-client-ca needs --tls-cert and --tls-key: client certificates are asked for only over TLS"))
	}
	if !c.csiTCP() {
		if c.CSIClientCA != "" {
			errs = append(errs, fmt.Errorf("--csi-client-ca applies to a tcp:// --csi-endpoint only; %s is a unix socket (mode 0600, no TLS)", c.CSIEndpoint))
		}
		if c.CSIInsecureTCP {
			errs = append(errs, fmt.Errorf("--csi-insecure-tcp applies to a tcp:// --csi-endpoint only; %s is a unix socket", c.CSIEndpoint))
		}
		return errs
	}
	switch {
	case c.CSIInsecureTCP && c.CSIClientCA != "":
		errs = append(errs, errors.New("--csi-insecure-tcp and --csi-client-ca contradict each other: pass --csi-client-ca to require client certificates on the CSI endpoint, or --csi-insecure-tcp to accept anyone"))
	case c.CSIInsecureTCP:
	case c.CSIClientCA == "" || c.TLSCert == "" || c.TLSKey == "":
		var missing []string
		for _, f := range []struct{ flag, v string }{{"--tls-cert", c.TLSCert}, {"--tls-key", c.TLSKey}, {"--csi-client-ca", c.CSIClientCA}} {
			if f.v == "" {
				missing = append(missing, f.flag)
			}
		}
		errs = append(errs, fmt.Errorf("--csi-endpoint %s: a CSI endpoint on TCP requires mutual TLS (missing %s): pass --tls-cert and --tls-key (the server certificate) and --csi-client-ca (the CA that signs the CSI clients' certificates), or --csi-insecure-tcp to accept anyone who can reach the port",
			c.CSIEndpoint, strings.Join(missing, ", ")))
	}
	return errs
}

// labConfig is the lab world the flags and the config file ask for.
func (c *Config) labConfig() lab.Config {
	lc := lab.Small()
	size, speed, seed := c.LabSize, c.LabSpeed, c.LabSeed
	if l := c.file.Lab; l != nil {
		if l.Size != "" {
			size = l.Size
		}
		if l.Speed != nil {
			speed = *l.Speed
		}
		if l.Seed != nil {
			seed = *l.Seed
		}
	}
	if size == "large" {
		lc = lab.Large()
	}
	if l := c.file.Lab; l != nil {
		if l.HostsPerSite > 0 {
			lc.HostsPerSite = l.HostsPerSite
		}
		if l.VMsPerSite > 0 {
			lc.VMsPerSite = l.VMsPerSite
		}
		if l.ArraysPerSite > 0 {
			lc.ArraysPerSite = l.ArraysPerSite
		}
		if len(l.Sites) > 0 {
			lc.Sites = l.Sites
		}
	}
	lc.Seed, lc.Speed = seed, speed
	lc.FabricPairsPerSite = c.LabFabricPairs
	lc.Workloads = c.LabWorkloads
	// The devices keep their state beside the store, as real ones keep
	// theirs across a restart of the daemon.
	lc.Dir, lc.Reset = filepath.Join(c.DataDir, "lab"), c.LabReset
	return lc
}

// labFlags defines the lab's flags that live beside the lab's config here;
// main registers them with the others.
func labFlags(fs *flag.FlagSet, c *Config) {
	fs.IntVar(&c.LabFabricPairs, "lab-fabric-pairs", 1, "fabric pairs a lab site has (1 to 4): 1 gives fabrics a and b, every host on both; 2 adds c and d, the site's hosts alternating between the pairs; changing it needs --lab-reset")
	fs.BoolVar(&c.LabWorkloads, "lab-workloads", true, "grow the lab's thin pools by models the seed draws (linear, weekly seasonal, step, bursts, flat), one pool heading for full within a virtual day; false: every presented volume writes at its own steady rate, as lab state made before workloads existed does (changing it needs --lab-reset)")
	fs.BoolVar(&c.LabReset, "lab-reset", false, "discard the lab's device state (zone DBs, logins, volumes, masking, clock) under <data-dir>/lab and start it again from its seed")
	fs.StringVar(&c.Compute, "compute", "lab", "compute driver: lab (sanmob moves the lab's VMs) or external (a hypervisor manager moves them and reports to POST /v1/migrations/{id}/compute; see docs/compute-external.md)")
	fs.DurationVar(&c.ComputeTimeout, "compute-timeout", 15*time.Minute, "with --compute external: how long a move waits for the manager's report before the migration rolls back")
}

// checkZoning validates the zoning section against the lab's fabrics.
func (c *Config) checkZoning(lc lab.Config) []error {
	z := c.file.Zoning
	if z == nil {
		return nil
	}
	var errs []error
	if _, err := c.zoneMode(); err != nil {
		errs = append(errs, err)
	}
	fabrics := map[string]bool{}
	for _, id := range lc.FabricIDs() {
		fabrics[id] = true
	}
	for _, id := range slices.Sorted(maps.Keys(z.Policies)) {
		switch p := fabric.Policy(z.Policies[id]); {
		case !fabrics[id]:
			errs = append(errs, fmt.Errorf("--config: zoning.policies: unknown fabric %q", id))
		case p != fabric.SIST && p != fabric.PeerZones:
			errs = append(errs, fmt.Errorf("--config: zoning.policies.%s: %q: want %s or %s", id, p, fabric.SIST, fabric.PeerZones))
		}
	}
	return errs
}

func (c *Config) zoneMode() (fabric.Mode, error) {
	if c.file.Zoning == nil {
		return fabric.GroupCommit, nil
	}
	switch c.file.Zoning.Mode {
	case "", "group":
		return fabric.GroupCommit, nil
	case "serial":
		return fabric.Serial, nil
	}
	return 0, fmt.Errorf("--config: zoning.mode %q: want group or serial", c.file.Zoning.Mode)
}

func (c *Config) zonePolicies() map[string]fabric.Policy {
	if c.file.Zoning == nil {
		return nil
	}
	out := map[string]fabric.Policy{}
	for id, p := range c.file.Zoning.Policies {
		out[id] = fabric.Policy(p)
	}
	return out
}

// vportPools are the configured NPIV pools; nil keeps mobility's default.
func (c *Config) vportPools() ([]wwn.Pool, error) {
	n := c.file.NPIV
	if n == nil || len(n.Pools) == 0 {
		return nil, nil
	}
	var pools []wwn.Pool
	for i, p := range n.Pools {
		oui, err := parseOUI(p.OUI)
		if err != nil {
			return nil, fmt.Errorf("--config: npiv.pools[%d].oui: %w", i, err)
		}
		pools = append(pools, wwn.Pool{OUI: oui, First: p.First, Last: p.Last})
	}
	if _, err := wwn.NewGenerator(func(wwn.WWN) bool { return false }, pools...); err != nil {
		return nil, fmt.Errorf("--config: npiv.pools: %w", err)
	}
	return pools, nil
}

// parseOUI reads an OUI as people write it: 00:1a:4a, 00-1A-4A or 001a4a.
func parseOUI(s string) (uint32, error) {
	h := strings.NewReplacer(":", "", "-", "").Replace(strings.TrimPrefix(strings.ToLower(s), "0x"))
	if len(h) != 6 {
		return 0, fmt.Errorf("%q: want 3 bytes, as 00:1a:4a", s)
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("%q: not hexadecimal", s)
	}
	return uint32(v), nil
}

// queueThresholds are the per-pool thresholds of the config file.
func (c *Config) queueThresholds() (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	if c.file.QueueDepth == nil {
		return out, nil
	}
	for pool, v := range c.file.QueueDepth.Thresholds {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("--config: queueDepth.thresholds.%s: %q is not a positive duration such as 5ms", pool, v)
		}
		out[pool] = d
	}
	return out, nil
}

// decodeConfigFile reads the config file into f. Its errors say, in plain
// words, the line, the key path and what is wrong: an unknown key with the
// keys known there, a value of the wrong kind with what was wanted — never
// a Go type. Each starts with "line N: ".
func decodeConfigFile(raw []byte, f *fileConfig) []error {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return plainYAMLErrors(err)
	}
	w := configWalk{budget: 100_000}
	w.check(&doc, reflect.TypeOf(f).Elem(), "", 0)
	if len(w.errs) > 0 {
		return w.errs
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil && !errors.Is(err, io.EOF) {
		return plainYAMLErrors(err) // what the walk does not check: duplicate keys, say
	}
	return nil
}

// configWalk checks a YAML tree against the fileConfig type, key by key.
type configWalk struct {
	errs   []error
	budget int // nodes left to visit: aliases can make a small file a huge tree
}

var yamlUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()

func (w *configWalk) check(n *yaml.Node, t reflect.Type, path string, depth int) {
	for n.Kind == yaml.AliasNode && n.Alias != nil && depth < 64 {
		n, depth = n.Alias, depth+1
	}
	w.budget--
	if w.budget < 0 || depth > 64 {
		return // the decode that follows has its own limits
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			w.check(c, t, path, depth+1)
		}
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value leaves the default
	}
	wrong := func() {
		where := path
		if where == "" {
			where = "the top level"
		}
		w.errs = append(w.errs, fmt.Errorf("line %d: %s: want %s, got %s", n.Line, where, wantOf(t), gotOf(n)))
	}
	if reflect.PointerTo(t).Implements(yamlUnmarshaler) {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			wrong()
		}
		return
	}
	switch t.Kind() {
	case reflect.Interface:
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			wrong()
			return
		}
		var known []string
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			sf := t.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			if !sf.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = strings.ToLower(sf.Name)
			}
			known = append(known, name)
			fields[name] = sf.Type
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				in := ""
				if path != "" {
					in = " in " + path
				}
				w.errs = append(w.errs, fmt.Errorf("line %d: unknown key %q%s (known: %s)", k.Line, k.Value, in, strings.Join(known, ", ")))
				continue
			}
			w.check(v, ft, joinKey(path, k.Value), depth+1)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			wrong()
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			w.check(n.Content[i+1], t.Elem(), joinKey(path, n.Content[i].Value), depth+1)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			wrong()
			return
		}
		for i, e := range n.Content {
			w.check(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
	default:
		// yaml.v3 would cut 2.5 to 2 for a whole number: refused here.
		fraction := n.ShortTag() == "!!float" && (t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64)
		if n.Kind != yaml.ScalarNode || fraction || n.Decode(reflect.New(t).Interface()) != nil {
			wrong()
		}
	}
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// wantOf says in words what a value of type t looks like in the file.
func wantOf(t reflect.Type) string {
	if t == reflect.TypeFor[time.Duration]() {
		return "a duration such as 30s"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number, not negative"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping of keys to values"
	}
	return "a value"
}

// gotOf says what the file has instead.
func gotOf(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	v := n.Value
	if len(v) > 64 {
		v = v[:64] + "…"
	}
	return strconv.Quote(v)
}

// yamlTypeErr matches yaml.v3's words for a key or value it refused, so
// that the fallback path speaks as the walk does.
var (
	yamlUnknownField = regexp.MustCompile(`field (\S+) not found in type \S+`)
	yamlCannot       = regexp.MustCompile(`cannot unmarshal !!\w+ ` + "`([^`]*)`" + ` into (\S+)`)
)

// plainYAMLErrors turns yaml.v3's errors into "line N: ..." without Go
// type names.
func plainYAMLErrors(err error) []error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var out []error
		for _, e := range te.Errors {
			e = yamlUnknownField.ReplaceAllString(e, `unknown key "$1"`)
			e = yamlCannot.ReplaceAllString(e, `want a value of another kind, got "$1"`)
			out = append(out, errors.New(e))
		}
		return out
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line, rest, ok := strings.Cut(msg, ": ")
	if !ok || !strings.HasPrefix(line, "line ") {
		line, rest = "line 1", msg // yaml.v3 names no line for some errors
	}
	return []error{fmt.Errorf("%s: not valid YAML: %s", line, rest)}
}

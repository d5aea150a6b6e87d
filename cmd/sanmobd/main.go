// Command sanmobd is the sanmob daemon: it parses flags into a Config, builds
// the daemon with New and runs it until SIGTERM or SIGINT. With TLS
// configured, SIGHUP reloads the certificates.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint([]string(*m)) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	if ok, code := storeCommand(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
	var cfg Config
	fs := flag.NewFlagSet("sanmobd", flag.ExitOnError)
	fs.StringVar(&cfg.ConfigFile, "config", "", "YAML config file (tokens, lab parameters; real device drivers come with later releases)")
	fs.StringVar(&cfg.DataDir, "data-dir", "./data", "directory for the store and the generated admin token")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "REST API address")
	fs.StringVar(&cfg.CSIEndpoint, "csi-endpoint", "", "CSI endpoint, unix://PATH or tcp://ADDR (default unix://<data-dir>/csi.sock)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM server certificate (with its chain): the REST API serves HTTPS, TLS 1.2 or later, and a tcp:// CSI endpoint serves it too; needs --tls-key; reloaded on SIGHUP")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key of --tls-cert; reloaded on SIGHUP")
	fs.StringVar(&cfg.TLSClientCA, "tls-client-ca", "", "PEM CA certificate(s): REST clients must present a certificate signed by one (mutual TLS); the bearer token is still required; needs --tls-cert; reloaded on SIGHUP")
	fs.StringVar(&cfg.CSIClientCA, "csi-client-ca", "", "PEM CA certificate(s): a tcp:// CSI endpoint requires its clients to present a certificate signed by one (mutual TLS, with --tls-cert and --tls-key); reloaded on SIGHUP")
	fs.BoolVar(&cfg.CSIInsecureTCP, "csi-insecure-tcp", false, "serve a tcp:// CSI endpoint without TLS or client certificates: anyone who can reach the port can create, attach and delete volumes (for tests; logs a warning on every start)")
	fs.BoolVar(&cfg.Lab, "lab", false, "run on the embedded lab (the default when no config names devices)")
	fs.Float64Var(&cfg.LabSpeed, "lab-speed", 60, "the lab's virtual clock runs this many times real time")
	fs.Int64Var(&cfg.LabSeed, "lab-seed", 1, "seed of the lab's generated world")
	fs.StringVar(&cfg.LabSize, "lab-size", "small", "lab world size: small (2 sites, 8 hosts, 24 VMs) or large (10,000 hosts, 100,000 VMs)")
	fs.Var((*multiFlag)(&cfg.AlertWebhooks), "alert-webhook", "URL that gets alert notifications as Alertmanager webhook payloads, version 4, retried on 5xx (repeatable)")
	alertFlags(fs, &cfg)
	fs.StringVar(&cfg.LogFormat, "log-format", "text", "text or json")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&cfg.PprofListen, "pprof-listen", "", "serve net/http/pprof on this address (off by default; bind to loopback)")
	labFlags(fs, &cfg)
	fs.DurationVar(&cfg.RefreshInterval, "refresh-interval", 0, "how often device state is re-read (default 30s)")
	fs.DurationVar(&cfg.PoolSamplePeriod, "pool-sample-period", 0, "how often every pool is sampled for its history, forecast and alerts, on the daemon's clock (default 1m)")
	fs.DurationVar(&cfg.QueueDepthPeriod, "queue-depth-period", 0, "the queue-depth control period, on the daemon's clock (default 2s)")
	fs.DurationVar(&cfg.QueueThresholdDisk, "queue-threshold-disk", 0, "latency threshold of disk pools' queue depths (default 30ms); per pool: queueDepth.thresholds in --config")
	fs.DurationVar(&cfg.QueueThresholdFlash, "queue-threshold-flash", 0, "latency threshold of flash pools' queue depths (default 1.5ms)")
	showVersion := fs.Bool("version", false, "print the version (module version, VCS revision and time, whether the tree was modified, Go version) and exit")
	fs.BoolVar(&cfg.LabIO, "lab-io", true, "the lab's hosts send I/O telemetry from a model of its pools (one host ignores the recommendations), so queue depths show live; off on the large lab")
	_ = fs.Parse(os.Args[1:])
	if *showVersion {
		if err := readBuildInfo(version).print(os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "sanmobd: unexpected arguments %v\n", fs.Args())
		os.Exit(2)
	}

	d, err := New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sanmobd:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := d.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "sanmobd:", err)
		os.Exit(1)
	}
}

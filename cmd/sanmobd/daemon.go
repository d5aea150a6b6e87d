package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/credentials"
	"k8s.io/utils/clock"

	"github.com/sanmob/sanmob/alert"
	"github.com/sanmob/sanmob/compute/external"
	"github.com/sanmob/sanmob/internal/labwire"
	"github.com/sanmob/sanmob/lab"
	"github.com/sanmob/sanmob/mobility"
	"github.com/sanmob/sanmob/server"
	csiserver "github.com/sanmob/sanmob/server/csi"
	"github.com/sanmob/sanmob/store"
	"github.com/sanmob/sanmob/thin"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Daemon is a configured sanmobd, ready to Run.
type Daemon struct {
	cfg Config
	log *logrus.Logger
	// addr receives the API's address once it listens.
	addr chan net.Addr
	// certs are the TLS certificates, nil without --tls-cert.
	certs *certReloader
}

// New validates the configuration; it opens nothing.
func New(cfg Config) (*Daemon, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := logrus.New()
	if cfg.LogFormat == "json" {
		log.SetFormatter(&logrus.JSONFormatter{})
	}
	lvl, err := logrus.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	log.SetLevel(lvl)
	d := &Daemon{cfg: cfg, log: log, addr: make(chan net.Addr, 1)}
	if cfg.tlsOn() {
		// Read now, so a missing or mismatched file is a configuration
		// error before anything listens.
		if d.certs, err = newCertReloader(cfg.certFiles()); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Run serves until ctx ends, then shuts down cleanly. Every write the API
// acknowledged is already synced to the store, so a SIGKILL loses none.
//
// The API's port is taken before anything is written, so a port in use
// fails Run with no trace. Then the store, the lab and the services are
// built, and the daemon's runnables run under one errgroup (see runnables):
// the first to fail cancels the rest and Run returns its error.
func (d *Daemon) Run(ctx context.Context) error {
	log := d.log
	ln, err := net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w; nothing was written to %s", d.cfg.Listen, err, d.cfg.DataDir)
	}
	defer ln.Close() // a no-op once the HTTP server has closed it
	if err := os.MkdirAll(d.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	csiLn, err := csiserver.Listen(d.cfg.CSIEndpoint)
	if err != nil {
		return err
	}
	defer csiLn.Close()
	_, statErr := os.Stat(filepath.Join(d.cfg.DataDir, "store", "MANIFEST"))
	storeExisted := statErr == nil
	if !storeExisted {
		if err := d.noStoreLeft(); err != nil {
			return err
		}
	}
	st, err := store.Open(store.Options{Dir: filepath.Join(d.cfg.DataDir, "store"), Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.WithError(err).Error("closing the store")
		}
	}()
	tokens, err := d.tokens(st)
	if err != nil {
		return err
	}

	world, err := lab.New(d.cfg.labConfig())
	if err != nil {
		return err // the lab's errors name the lab
	}
	if msg := world.Recovered(); msg != "" {
		log.Warn("lab: " + msg)
	}
	logWorkloads(log, world.PoolWorkloads())
	if world.Fresh() && storeExisted && !d.cfg.LabReset {
		log.WithField("dir", filepath.Join(d.cfg.DataDir, "lab")).Warn("the lab's devices start from the seed although the store holds records made against them: its device state was missing; expect drift and volumes reported missing")
	}
	defer func() {
		if err := world.Close(); err != nil {
			log.WithError(err).Error("closing the lab")
		}
	}()
	thresholds, _ := d.cfg.queueThresholds() // validated in New
	mode, _ := d.cfg.zoneMode()              // validated in New
	pools, _ := d.cfg.vportPools()           // validated in New
	// Every device is built by the driver its Spec names, as a real one
	// would be; today they are the lab's own (driver "lab").
	fabrics, arrays := labwire.Specs(world)
	// One alert manager for every raiser (the core today; thin and qdepth
	// next) and the sinks that deliver; its alerts, their changes and what
	// each receiver got are kept in the store across restarts.
	alerts := alert.NewManager(world.Clock(), 0)
	if err := alerts.Restore(st, log.WithField("component", "alert")); err != nil {
		return err
	}
	if d.certs != nil && d.cfg.AlertExternalURL == "" {
		d.cfg.AlertExternalURL = "https://" + ln.Addr().String() // the default is http://
	}
	delivery, err := d.alertDelivery(alerts, world.Clock(), ln.Addr(), world.Clock().Speed())
	if err != nil {
		return err
	}
	mcfg, err := labwire.MobilityFrom(world, fabrics, arrays, mobility.Config{Store: st, Log: log, RefreshInterval: d.cfg.RefreshInterval,
		ZonePolicies: d.cfg.zonePolicies(), ZoneMode: mode, VportPools: pools, Alerts: alerts,
		Thin: thin.Config{Period: d.cfg.PoolSamplePeriod},
		QueueDepth: mobility.QueueDepthConfig{Period: d.cfg.QueueDepthPeriod, Thresholds: thresholds,
			DiskThreshold: d.cfg.QueueThresholdDisk, FlashThreshold: d.cfg.QueueThresholdFlash}})
	if err != nil {
		return err
	}
	if d.cfg.Compute == "external" {
		// The lab's hypervisor stands in for the manager's hosts and VMs;
		// a reported switch is applied to it, as vCenter would have moved
		// the VM. The manager answers in real time, not the lab's.
		mcfg.Compute = external.New(mcfg.Compute, d.cfg.ComputeTimeout, clock.RealClock{})
		log.WithField("timeout", d.cfg.ComputeTimeout).Info("compute driver external: moves wait for the hypervisor manager's report")
	}
	mob, err := mobility.New(mcfg)
	if err != nil {
		return err
	}
	defer mob.Close()
	storeReady := func() (bool, []string) {
		// A read that goes through badger: an open, readable store.
		if _, err := st.SchemaVersion(); err != nil {
			return false, []string{"store: " + err.Error()}
		}
		return true, nil
	}
	api, err := server.New(server.Config{Mobility: mob, Lab: labwire.API(world), Tokens: tokens, Log: log, Version: version, Ready: storeReady,
		Alerts: alerts, AlertDelivery: delivery})
	if err != nil {
		return err
	}
	csiCfg := csiserver.Config{Mobility: mob, Log: log.WithField("component", "csi"), Version: version, Ready: storeReady}
	if d.cfg.csiTCP() && !d.cfg.CSIInsecureTCP {
		// validate made sure there are certs
		csiCfg.Creds = loggedCreds{credentials.NewTLS(d.certs.csiTLS()), log.WithField("component", "csi")}
	}
	csiSrv, err := csiserver.New(csiCfg)
	if err != nil {
		return err
	}
	// REST over TLS: the connection net/http sees must be the *tls.Conn
	// (r.TLS, handshake deadlines), so server.Listener's one-write answers
	// are for plain HTTP only.
	restLn := server.Listener(ln)
	if d.certs != nil {
		restLn = tls.NewListener(ln, d.certs.restTLS())
	}

	// The API and CSI answer while the inventory loads (readiness says
	// so); the runnables that need the inventory start once it is loaded.
	serving := []runnable{
		{name: "http", run: httpRunnable(api.Handler(), restLn, log.WithField("component", "http"))},
		// Serve stops when ctx ends, letting running calls finish, and
		// removes its socket.
		{name: "csi", run: func(ctx context.Context) error { return csiSrv.Serve(ctx, csiLn) }},
	}
	if delivery != nil {
		serving = append(serving, runnable{name: "alerts", run: delivery.Run})
	}
	// Registered before the serving line, so a SIGHUP sent once the daemon
	// says it serves reloads instead of killing it — with nothing to reload
	// too (a `systemctl reload` on a daemon without TLS must not stop it).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if d.certs != nil {
		serving = append(serving, runnable{name: "tls-reload", run: d.certs.reloadOn(hup, log)})
	} else {
		serving = append(serving, runnable{name: "sighup", run: func(ctx context.Context) error {
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-hup:
					log.Info("SIGHUP: nothing to reload (no --tls-cert); still serving")
				}
			}
		}})
	}
	if d.cfg.PprofListen != "" {
		serving = append(serving, runnable{name: "pprof", run: pprofRunnable(d.cfg.PprofListen, log)})
	}
	started := []runnable{
		// The refresh loop: re-reads every device.
		{name: "mobility", run: func(ctx context.Context) error { mob.Run(ctx); return nil }},
		// The saga executor: resumes the changes a crash interrupted, then
		// runs every attach and detach.
		{name: "sagas", run: mob.RunSagas},
		// Resolves the restored alerts nobody raised again.
		{name: "alert-confirm", run: confirmAlerts(alerts, world.Clock(), d.confirmGrace(), log.WithField("component", "alert"))},
	}
	if d.cfg.LabIO && d.cfg.LabSize != "large" {
		period := d.cfg.QueueDepthPeriod
		if period <= 0 {
			period = mobility.DefaultQueueDepthPeriod
		}
		started = append(started, runnable{name: "lab-io", run: (&labIO{mob: mob, clk: world.Clock(), period: period, log: log.WithField("component", "lab-io")}).run})
	}
	start := func(ctx context.Context) error {
		t0 := time.Now()
		if err := mob.Start(ctx); err != nil {
			return err
		}
		ready, why := mob.Readiness()
		log.WithFields(logrus.Fields{"took": time.Since(t0).Round(time.Millisecond).String(), "ready": ready, "waiting": why}).Info("inventory started")
		for _, id := range mob.UnknownThresholdPools() {
			log.WithField("pool", id).Warn("--config: queueDepth.thresholds names a pool no array reports; its threshold applies to nothing")
		}
		return nil
	}

	d.addr <- ln.Addr()
	d.logTLS(log)
	log.WithFields(logrus.Fields{"listen": ln.Addr().String(), "csiEndpoint": d.cfg.CSIEndpoint, "csiAddr": csiLn.Addr().String(), "dataDir": d.cfg.DataDir, "lab": true, "labSpeed": world.Clock().Speed(),
		"restTLS": d.restTLSMode(), "csiTLS": d.csiTLSMode()}).Info("sanmobd serving; loading the inventory")
	if d.cfg.TLSClientCA != "" && filepath.Clean(d.cfg.TLSClientCA) == filepath.Clean(d.cfg.CSIClientCA) {
		log.Warn("--tls-client-ca and --csi-client-ca name the same file: every REST client's certificate also opens the CSI endpoint, which has no roles (docs/operations.md, TLS)")
	}
	if len(d.cfg.file.Fabrics) > 0 || len(d.cfg.file.Arrays) > 0 {
		log.Warn("--lab: the fabrics and arrays named in --config are ignored; this build drives only the embedded lab")
	}
	return runRunnables(ctx, log, serving, start, started)
}

// runnable is one long-running part of the daemon — a server, a loop. run
// returns nil once ctx has ended and it has stopped, or an error when it
// fails, which stops the daemon. A new loop plugs in as one more entry in
// Run's lists.
type runnable struct {
	name string
	run  func(ctx context.Context) error
}

// shutdownGrace bounds the HTTP server's graceful shutdown.
const shutdownGrace = 10 * time.Second

// runRunnables runs serving at once and, once start has returned nil,
// started, all under one errgroup. The first runnable to fail (or start)
// cancels the others; runRunnables returns that error after every runnable
// has ended. Errors that come after ctx ended — a shutdown cut short — are
// logged, and the result is nil: the daemon was asked to stop and did.
func runRunnables(ctx context.Context, log logrus.FieldLogger, serving []runnable, start func(context.Context) error, started []runnable) error {
	g, gctx := errgroup.WithContext(ctx)
	stopLog := context.AfterFunc(gctx, func() {
		if ctx.Err() != nil {
			log.Info("shutting down")
		} else {
			log.WithError(context.Cause(gctx)).Error("shutting down after a failure")
		}
	})
	defer stopLog()
	goRun := func(r runnable) {
		g.Go(func() error {
			err := r.run(gctx)
			switch {
			case err == nil:
				log.WithField("runnable", r.name).Debug("stopped")
				return nil
			case ctx.Err() != nil:
				log.WithError(err).WithField("runnable", r.name).Warn("stopping")
				return nil
			}
			return err
		})
	}
	for _, r := range serving {
		goRun(r)
	}
	goRun(runnable{name: "start", run: func(ctx context.Context) error {
		if err := start(ctx); err != nil {
			return err
		}
		for _, r := range started {
			goRun(r) // this goroutine is still in the group, so Wait waits for these
		}
		return nil
	}})
	return g.Wait()
}

// httpRunnable serves h on ln until ctx ends, then shuts down gracefully:
// running requests get shutdownGrace to finish. What net/http logs itself
// (a refused TLS handshake: who, and why) goes to log as warnings.
func httpRunnable(h http.Handler, ln net.Listener, log logrus.FieldLogger) func(context.Context) error {
	return func(ctx context.Context) error {
		// Requests' contexts derive from base, which Shutdown cancels: the
		// streams (SSE) end at once instead of holding the shutdown for
		// its whole grace; ordinary requests finish as before.
		base, stopStreams := context.WithCancel(context.WithoutCancel(ctx))
		defer stopStreams()
		srv := &http.Server{
			Handler:           h,
			ErrorLog:          stdlog.New(logWriter{log}, "", 0),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       60 * time.Second,
			WriteTimeout:      server.WriteTimeout, // event streams lift it for themselves
			IdleTimeout:       120 * time.Second,
			ConnContext:       server.ConnContext,
			BaseContext:       func(net.Listener) context.Context { return base },
		}
		srv.RegisterOnShutdown(stopStreams)
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		select {
		case err := <-served:
			return fmt.Errorf("http: %w", err)
		case <-ctx.Done():
		}
		shCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
		defer cancel()
		err := srv.Shutdown(shCtx)
		if err != nil {
			_ = srv.Close()
			err = fmt.Errorf("http shutdown: %w", err)
		}
		<-served // ErrServerClosed as soon as Shutdown or Close began
		return err
	}
}

// pprofRunnable serves net/http/pprof on addr until ctx ends. A pprof
// listener that fails is logged and does not stop the daemon.
func pprofRunnable(addr string, log logrus.FieldLogger) func(context.Context) error {
	return func(ctx context.Context) error {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
		defer stop()
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.WithError(err).Warn("pprof listener")
		}
		return nil
	}
}

// Addr returns the address the API listens on, once it does.
func (d *Daemon) Addr(ctx context.Context) (net.Addr, error) {
	select {
	case a := <-d.addr:
		d.addr <- a
		return a, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

const kindToken = "token"

type tokenRecord struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	SHA256 string `json:"sha256"`
}

// tokens returns the configured tokens, or, when none is configured, the
// generated admin token's hash — generating it on the first start, keeping
// only the hash and writing the token itself to <data-dir>/admin.token (0600).
func (d *Daemon) tokens(st *store.Store) ([]server.Token, error) {
	var out []server.Token
	for _, t := range d.cfg.file.Tokens {
		h, _ := server.ParseTokenHash(t.SHA256) // validated in New
		out = append(out, server.Token{Name: t.Name, Role: server.Role(t.Role), Hash: h})
	}
	if len(out) > 0 {
		return out, nil
	}
	var rec tokenRecord
	err := st.Get(kindToken, "admin", &rec)
	switch {
	case err == nil:
		h, err := server.ParseTokenHash(rec.SHA256)
		if err != nil {
			return nil, fmt.Errorf("stored admin token: %w", err)
		}
		if _, err := os.Stat(filepath.Join(d.cfg.DataDir, "admin.token")); err != nil {
			d.log.Warn("admin.token is gone but its hash is still in the store; configure tokens in --config to regain access")
		}
		return []server.Token{{Name: "admin", Role: server.RoleAdmin, Hash: h}}, nil
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	tok, err := server.GenerateToken()
	if err != nil {
		return nil, err
	}
	// The file first: a token whose hash is stored but that nobody can read
	// would lock the admin out.
	path := filepath.Join(d.cfg.DataDir, "admin.token")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write admin token: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("write admin token: %w", err)
	}
	hash := server.HashToken(tok)
	if err := st.Put(kindToken, "admin", tokenRecord{Name: "admin", Role: string(server.RoleAdmin), SHA256: hash}); err != nil {
		return nil, err
	}
	d.log.WithField("file", path).Info("generated the admin token (only its hash is stored)")
	return []server.Token{{Name: "admin", Role: server.RoleAdmin, Hash: sha256.Sum256([]byte(tok))}}, nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// noStoreLeft refuses to start a new store in a data dir that an earlier
// start left things in — its admin.token, its lab — when the store itself
// is gone: that store was removed or lost, and starting empty would forget
// every record (and overwrite the admin token) without a word.
func (d *Daemon) noStoreLeft() error {
	var left []string
	for _, name := range []string{"admin.token", "lab"} {
		if _, err := os.Stat(filepath.Join(d.cfg.DataDir, name)); err == nil {
			left = append(left, name)
		}
	}
	if len(left) == 0 {
		return nil
	}
	return fmt.Errorf("store damaged: data dir %s holds %s from an earlier start but no store (%s has no MANIFEST): "+
		"the store was removed or lost; restore it (sanmobd restore --data-dir %s --in BACKUP), or, to start a new installation, remove %s",
		d.cfg.DataDir, strings.Join(left, " and "), filepath.Join(d.cfg.DataDir, "store"), d.cfg.DataDir, strings.Join(left, " and "))
}

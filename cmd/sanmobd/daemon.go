package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/internal/labwire"
	"github.com/sanmob/sanmob/lab"
	"github.com/sanmob/sanmob/mobility"
	"github.com/sanmob/sanmob/server"
	csiserver "github.com/sanmob/sanmob/server/csi"
	"github.com/sanmob/sanmob/store"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Daemon is a configured sanmobd, ready to Run.
type Daemon struct {
	cfg Config
	log *logrus.Logger
	// addr receives the API's address once it listens.
	addr chan net.Addr
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
	return &Daemon{cfg: cfg, log: log, addr: make(chan net.Addr, 1)}, nil
}

// Run serves until ctx ends, then shuts down cleanly. Every write the API
// acknowledged is already synced to the store, so a SIGKILL loses none.
func (d *Daemon) Run(ctx context.Context) error {
	log := d.log
	if err := os.MkdirAll(d.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
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
		return fmt.Errorf("lab: %w", err)
	}
	mode, _ := d.cfg.zoneMode()    // validated in New
	pools, _ := d.cfg.vportPools() // validated in New
	mcfg := labwire.Mobility(world, mobility.Config{Store: st, Log: log, RefreshInterval: d.cfg.RefreshInterval,
		ZonePolicies: d.cfg.zonePolicies(), ZoneMode: mode, VportPools: pools})
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
	api, err := server.New(server.Config{Mobility: mob, Lab: labwire.API(world), Tokens: tokens, Log: log, Version: version, Ready: storeReady})
	if err != nil {
		return err
	}

	csiSrv, err := csiserver.New(csiserver.Config{Mobility: mob, Log: log.WithField("component", "csi"), Version: version, Ready: storeReady})
	if err != nil {
		return err
	}
	csiLn, err := csiserver.Listen(d.cfg.CSIEndpoint)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		_ = csiLn.Close()
		return fmt.Errorf("listen: %w", err)
	}
	d.addr <- ln.Addr()
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ConnContext:       server.ConnContext,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(server.Listener(ln)) }()
	// The CSI server stops when ctx ends (SIGTERM), letting running calls
	// finish, and removes its socket; stopCSI ends it early on a failure.
	csiCtx, stopCSI := context.WithCancel(ctx)
	defer stopCSI()
	csiErr, csiDone := make(chan error, 1), make(chan struct{})
	go func() {
		defer close(csiDone)
		if err := csiSrv.Serve(csiCtx, csiLn); err != nil {
			csiErr <- err
		}
	}()
	log.WithFields(logrus.Fields{"listen": ln.Addr().String(), "csiEndpoint": d.cfg.CSIEndpoint, "dataDir": d.cfg.DataDir, "lab": true, "labSpeed": world.Clock().Speed()}).Info("sanmobd serving; loading the inventory")
	if len(d.cfg.file.Fabrics) > 0 || len(d.cfg.file.Arrays) > 0 {
		log.Warn("--lab: the fabrics and arrays named in --config are ignored; this build drives only the embedded lab")
	}
	if len(d.cfg.AlertWebhooks) > 0 {
		log.WithField("webhooks", d.cfg.AlertWebhooks).Warn("alert delivery is not in this build yet; webhooks are not called")
	}

	if d.cfg.PprofListen != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		psrv := &http.Server{Addr: d.cfg.PprofListen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := psrv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.WithError(err).Warn("pprof listener")
			}
		}()
		defer psrv.Close()
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	if err := mob.Start(runCtx); err != nil {
		_ = srv.Close()
		stopCSI()
		<-csiDone
		return err
	}
	ready, why := mob.Readiness()
	log.WithFields(logrus.Fields{"took": time.Since(start).Round(time.Millisecond).String(), "ready": ready, "waiting": why}).Info("inventory started")
	done := make(chan struct{})
	go func() { mob.Run(runCtx); close(done) }()

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		stopCSI()
		cancel()
		<-done
		<-csiDone
		return fmt.Errorf("http: %w", err)
	case err := <-csiErr:
		_ = srv.Close()
		cancel()
		<-done
		return err
	}
	log.Info("shutting down")
	shCtx, shCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer shCancel()
	if err := srv.Shutdown(shCtx); err != nil {
		log.WithError(err).Warn("http shutdown")
	}
	<-csiDone
	cancel()
	<-done
	return nil
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

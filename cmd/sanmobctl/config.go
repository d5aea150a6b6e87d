package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

func osGetenv(k string) string { return os.Getenv(k) }

// fileConfig is ~/.config/sanmob/config.
type fileConfig struct {
	CurrentContext string                   `yaml:"current-context"`
	Contexts       map[string]contextConfig `yaml:"contexts"`
}

type contextConfig struct {
	Server     string `yaml:"server"`
	TokenFile  string `yaml:"token-file"`
	CA         string `yaml:"ca"`
	ClientCert string `yaml:"client-cert"`
	ClientKey  string `yaml:"client-key"`
}

// connection is where and how to reach the daemon.
type connection struct {
	server, token, tokenFile, ca, clientCert, clientKey string
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, p[1:])
		}
	}
	return p
}

func (a *app) configFile() string {
	if a.configPath != "" {
		return expandHome(a.configPath)
	}
	if p := a.getenv("SANMOB_CONFIG"); p != "" {
		return expandHome(p)
	}
	if x := a.getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "sanmob", "config")
	}
	return expandHome("~/.config/sanmob/config")
}

// resolve merges the config's context, the environment and the flags, in
// rising precedence.
func (a *app) resolve() (connection, error) {
	var conn connection
	path := a.configFile()
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		var fc fileConfig
		if err := yaml.Unmarshal(raw, &fc); err != nil {
			return conn, usageErr("config %s: %v", path, err)
		}
		name := a.contextName
		if name == "" {
			name = fc.CurrentContext
		}
		if name != "" {
			cc, ok := fc.Contexts[name]
			if !ok {
				return conn, usageErr("config %s: no context %q", path, name)
			}
			conn = connection{server: cc.Server, tokenFile: expandHome(cc.TokenFile), ca: expandHome(cc.CA),
				clientCert: expandHome(cc.ClientCert), clientKey: expandHome(cc.ClientKey)}
		}
	case errors.Is(err, fs.ErrNotExist):
		if a.contextName != "" {
			return conn, usageErr("--context %s: no config file %s", a.contextName, path)
		}
	default:
		return conn, fmt.Errorf("config: %w", err)
	}
	if s := a.getenv("SANMOB_SERVER"); s != "" {
		conn.server = s
	}
	if t := a.getenv("SANMOB_TOKEN_FILE"); t != "" {
		conn.token, conn.tokenFile = "", expandHome(t)
	}
	if t := a.getenv("SANMOB_TOKEN"); t != "" {
		conn.token, conn.tokenFile = t, ""
	}
	if a.server != "" {
		conn.server = a.server
	}
	if a.tokenFile != "" {
		conn.token, conn.tokenFile = "", expandHome(a.tokenFile)
	}
	if conn.server == "" {
		return conn, usageErr("no server: give --server, SANMOB_SERVER or a context in %s", path)
	}
	return conn, nil
}

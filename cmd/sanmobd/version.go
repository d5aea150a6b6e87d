package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// buildInfo is what the binary knows of its own build: what --version
// prints and what the API reports (sanmob_build_info, the OpenAPI document).
type buildInfo struct {
	Version   string // -ldflags "-X main.version=...", else the module version
	Module    string // the main module's path and version, as the go command stamped them
	Revision  string // vcs.revision; empty when the build was not stamped
	Time      string // vcs.time: the commit's time
	Modified  string // vcs.modified: "true" when the work tree had changes
	GoVersion string
}

// readBuildInfo reads the build's stamps from runtime/debug.ReadBuildInfo.
// version (set by -ldflags) wins; a build without it ("dev") takes the
// module version when the go command stamped a real one.
func readBuildInfo(version string) buildInfo {
	b := buildInfo{Version: version, GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.GoVersion = bi.GoVersion
	b.Module = bi.Main.Path
	if v := bi.Main.Version; v != "" {
		b.Module += " " + v
		if b.Version == "dev" && v != "(devel)" {
			b.Version = v
		}
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value
		}
	}
	return b
}

// print writes the build info the way --version shows it: the version on
// the first line, then one "key: value" a line; stamps the build lacks are
// left out.
func (b buildInfo) print(w io.Writer) error {
	_, err := fmt.Fprintf(w, "sanmobd %s\n", b.Version)
	for _, kv := range [][2]string{{"module", b.Module}, {"revision", b.Revision}, {"time", b.Time}, {"modified", b.Modified}, {"go", b.GoVersion}} {
		if err == nil && kv[1] != "" {
			_, err = fmt.Fprintf(w, "%s: %s\n", kv[0], kv[1])
		}
	}
	return err
}

func init() {
	// The daemon reports the resolved version everywhere (server.Config,
	// the CSI plugin info), not the bare "dev" of a build without -ldflags.
	version = readBuildInfo(version).Version
}

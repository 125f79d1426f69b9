// Package version reports what build of Folio is running. The Makefile sets
// Version, Commit and Date with -ldflags; a plain `go build` reports "dev".
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at link time: -X github.com/folio-ledger/folio/internal/version.Version=...
var (
	Version = "dev"
	Commit  = "unknown"
	Date    = "unknown"
)

// Info describes the running build.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
	Module    string `json:"module"`
}

// Get returns the running build's information.
func Get() Info {
	i := Info{Version: Version, Commit: Commit, Date: Date, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		i.Module = bi.Main.Path
	}
	return i
}

// String is a one-line description, e.g. "folio v0.1.0 (commit abc123, go1.26 linux/amd64)".
func (i Info) String() string {
	return fmt.Sprintf("folio %s (commit %s, built %s, %s %s)", i.Version, i.Commit, i.Date, i.GoVersion, i.Platform)
}

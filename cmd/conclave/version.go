package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
)

// Link-time stamps, set by `make build` through scripts/ldflags.sh with
// -ldflags "-X main.version=... -X main.commit=... -X main.modified=...".
// They are package variables because the linker can set nothing else; only
// readBuildInfo reads them. Go's own VCS stamp (vcs.revision) is the
// fallback, but it is missing from `go run`, from builds with
// -buildvcs=false and from git worktrees, hence the stamps.
var (
	version  string
	commit   string
	modified string
)

// buildInfo says which conclave this binary is: what `conclave version`
// prints and the conclave_build_info gauge exports.
type buildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Modified  bool   `json:"modified"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// stamps are the link-time values, apart so that tests can set them.
type stamps struct{ version, commit, modified string }

// readBuildInfo resolves this binary's build info.
func readBuildInfo() buildInfo {
	return resolveBuildInfo(stamps{version, commit, modified}, debug.ReadBuildInfo)
}

// resolveBuildInfo prefers the link-time stamps, then Go's build info
// (the main module's version and the vcs.* settings), then "devel" and
// "unknown".
func resolveBuildInfo(s stamps, read func() (*debug.BuildInfo, bool)) buildInfo {
	b := buildInfo{Version: s.version, Commit: s.commit, Modified: s.modified == "true",
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := read(); ok && bi != nil {
		if bi.GoVersion != "" {
			b.GoVersion = bi.GoVersion
		}
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		if b.Commit == "" {
			for _, kv := range bi.Settings {
				switch kv.Key {
				case "vcs.revision":
					b.Commit = kv.Value
				case "vcs.modified":
					b.Modified = kv.Value == "true"
				}
			}
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	if b.Commit == "" {
		b.Commit, b.Modified = "unknown", false
	}
	return b
}

// commitLabel is the commit with "-dirty" when the tree had uncommitted
// changes, as `git describe --dirty` writes it.
func (b buildInfo) commitLabel() string {
	if b.Modified {
		return b.Commit + "-dirty"
	}
	return b.Commit
}

// String is the text of `conclave version` and `conclave --version`.
func (b buildInfo) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "conclave %s\n", b.Version)
	fmt.Fprintf(&s, "commit:  %s", b.Commit)
	if b.Modified {
		s.WriteString(" (modified)")
	}
	fmt.Fprintf(&s, "\ngo:      %s %s\n", b.GoVersion, b.Platform)
	return s.String()
}

// collector is the conclave_build_info gauge: always 1, the build in its
// labels, the way Prometheus' own *_build_info metrics are shaped.
func (b buildInfo) collector() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "conclave",
		Name:      "build_info",
		Help:      "Always 1; the labels say which conclave build this agent runs.",
		ConstLabels: prometheus.Labels{
			"version":    b.Version,
			"commit":     b.commitLabel(),
			"go_version": b.GoVersion,
		},
	}, func() float64 { return 1 })
}

func newVersionCmd(bi buildInfo) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version and the commit this binary was built from",
		Args:  argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := newPrinter(cmd.OutOrStdout(), output)
			if err != nil {
				return err
			}
			if p.json {
				return p.JSON(bi)
			}
			_, err = fmt.Fprint(p.w, bi.String())
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

package main

import (
	"encoding/json"
	"io"
	"net/http"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestResolveBuildInfo(t *testing.T) {
	vcs := func(rev, mod string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			return &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "(devel)"},
				Settings: []debug.BuildSetting{{Key: "-trimpath", Value: "true"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: mod}}}, true
		}
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	tests := map[string]struct {
		s    stamps
		read func() (*debug.BuildInfo, bool)
		want buildInfo
	}{
		"link-time stamps win": {stamps{"v1.2.3", "abc", "true"}, vcs("def", "false"),
			buildInfo{Version: "v1.2.3", Commit: "abc", Modified: true, GoVersion: "go1.99"}},
		"go vcs stamp": {stamps{}, vcs("def", "true"),
			buildInfo{Version: "devel", Commit: "def", Modified: true, GoVersion: "go1.99"}},
		"module version": {stamps{}, func() (*debug.BuildInfo, bool) {
			return &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "v0.4.0"}}, true
		}, buildInfo{Version: "v0.4.0", Commit: "unknown", GoVersion: "go1.99"}},
		"nothing known": {stamps{}, none, buildInfo{Version: "devel", Commit: "unknown"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := resolveBuildInfo(tc.s, tc.read)
			if tc.want.GoVersion == "" {
				tc.want.GoVersion = got.GoVersion // runtime.Version()
			}
			tc.want.Platform = got.Platform
			if got != tc.want || got.GoVersion == "" || !strings.Contains(got.Platform, "/") {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	c := newCLI(t)
	bi := readBuildInfo()
	out := c.ok("", "version")
	if !strings.HasPrefix(out, "conclave "+bi.Version+"\n") || !strings.Contains(out, "commit:  "+bi.Commit) ||
		!strings.Contains(out, bi.GoVersion) {
		t.Fatalf("version = %q", out)
	}
	if flag := c.ok("", "--version"); flag != out {
		t.Fatalf("--version = %q, want what `version` prints: %q", flag, out)
	}
	var got buildInfo
	if err := json.Unmarshal([]byte(c.ok("", "version", "-o", "json")), &got); err != nil || got != bi {
		t.Fatalf("version -o json = %+v, %v; want %+v", got, err, bi)
	}
	if msg := c.fails("version", "extra"); !strings.Contains(msg, "version") {
		t.Fatalf("version with an argument: %q", msg)
	}
}

func TestAgentExportsBuildInfo(t *testing.T) {
	a := startAgent(t)
	bi := readBuildInfo()
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get("http://" + a.httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := `conclave_build_info{commit="` + bi.commitLabel() + `",go_version="` + bi.GoVersion + `",version="` + bi.Version + `"} 1`
	if !strings.Contains(string(body), want+"\n") {
		t.Fatalf("/metrics lacks %s", want)
	}
	if !strings.Contains(a.logs.String(), `"version":"`+bi.Version+`"`) {
		t.Fatalf("startup line lacks the version: %s", a.logs.String())
	}
}

package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// runnableGroups are the commands that run themselves and also have
// subcommands (`conclave elect NAME VALUE` beside `elect observe NAME`).
var runnableGroups = map[string]bool{"elect": true}

// TestUnknownSubcommandFails walks the whole command tree: every group
// (kv, lock, tls ca, ...) refuses a subcommand it does not have with one
// line and exit 1, and prints its help, exit 0, when given none.
func TestUnknownSubcommandFails(t *testing.T) {
	c := newCLI(t)
	var groups [][]string
	var walk func(cmd *cobra.Command, path []string)
	walk = func(cmd *cobra.Command, path []string) {
		if cmd.HasSubCommands() {
			groups = append(groups, path)
		}
		for _, sub := range cmd.Commands() {
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	walk(newRootCmd(env{lookup: func(string) (string, bool) { return "", false }}), nil)
	if len(groups) < 10 {
		t.Fatalf("found only %d command groups: %v", len(groups), groups)
	}
	for _, g := range groups {
		t.Run(strings.Join(append([]string{"conclave"}, g...), " "), func(t *testing.T) {
			c.t = t
			if runnableGroups[strings.Join(g, " ")] {
				// A verb with subcommands of its own: an unknown word is
				// its first argument, and a missing one is named.
				if msg := c.fails(append(append([]string(nil), g...), "frob")...); !strings.Contains(msg, "missing") {
					t.Fatalf("stderr %q, want the missing argument named", msg)
				}
				return
			}
			msg := c.fails(append(append([]string(nil), g...), "frob")...)
			want := `conclave: unknown command "frob" for "` + strings.Join(append([]string{"conclave"}, g...), " ") + `" (commands: `
			if !strings.HasPrefix(msg, want) {
				t.Fatalf("stderr %q, want it to start %q", msg, want)
			}
			if out := c.ok("", g...); !strings.Contains(out, "Usage:") {
				t.Fatalf("bare group: stdout %q, want its help", out)
			}
		})
	}
	if msg := c.fails("kv", "gte"); msg != `conclave: unknown command "gte" for "conclave kv"; did you mean get?` {
		t.Fatalf("typo: %q", msg)
	}
}

func TestArgCountErrorsNameWhatIsMissing(t *testing.T) {
	c := newCLI(t)
	long := strings.Repeat("x", 10240)
	tests := map[string]struct {
		args []string
		want string
	}{
		"kv put no value":   {[]string{"kv", "put", "k"}, "conclave: kv put: missing VALUE (usage: conclave kv put KEY VALUE)"},
		"kv put nothing":    {[]string{"kv", "put"}, "conclave: kv put: missing KEY and VALUE (usage: conclave kv put KEY VALUE)"},
		"pg broadcast":      {[]string{"pg", "broadcast", "g"}, "conclave: pg broadcast: missing MESSAGE (usage: conclave pg broadcast GROUP MESSAGE)"},
		"lock release":      {[]string{"lock", "release"}, "conclave: lock release: missing NAME (usage: conclave lock release NAME --pid PID)"},
		"name run":          {[]string{"name", "run"}, "conclave: name run: missing NAME and CMD (usage: conclave name run NAME [flags] -- CMD [ARGS...])"},
		"members extra":     {[]string{"members", "x"}, `conclave: members: unexpected argument "x" (usage: conclave members)`},
		"kv get extras":     {[]string{"kv", "get", "a", "b", "c", "d", "e"}, `conclave: kv get: unexpected arguments "b", "c", "d" and 1 more (usage: conclave kv get KEY)`},
		"long extra":        {[]string{"raft", "status", long}, `conclave: raft status: unexpected argument "` + strings.Repeat("x", 64) + `"… (10240 bytes) (usage: conclave raft status)`},
		"tls extra":         {[]string{"tls", "ca", "create", "x"}, `conclave: tls ca create: unexpected argument "x" (usage: conclave tls ca create)`},
		"version extra":     {[]string{"version", "x"}, `conclave: version: unexpected argument "x" (usage: conclave version)`},
		"name run two@dash": {[]string{"name", "run", "a", "b", "--", "true"}, "conclave: name run: want exactly NAME before --, got 2 arguments"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c.t = t
			if msg := c.fails(tc.args...); !strings.HasPrefix(msg, tc.want) {
				t.Fatalf("stderr %q\nwant      %q", msg, tc.want)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"short":     {"abc", `"abc"`},
		"exact":     {strings.Repeat("a", 64), `"` + strings.Repeat("a", 64) + `"`},
		"long":      {strings.Repeat("a", 10240), `"` + strings.Repeat("a", 64) + `"… (10240 bytes)`},
		"rune edge": {strings.Repeat("a", 63) + "é" + "zz", `"` + strings.Repeat("a", 63) + `"… (67 bytes)`},
		"control":   {"a\nb", `"a\nb"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := truncate(tc.in); got != tc.want {
				t.Fatalf("truncate = %s, want %s", got, tc.want)
			}
		})
	}
}

package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/conclave-dev/conclave"

// allowed lists, for each top-level part, the other parts of ours it may
// import directly. A part's own subpackages are always allowed.
var allowed = map[string][]string{
	// cmd also reads kv's rules: kv import cuts its transactions with the
	// table's own checks, so no batch is refused for its size.
	"cmd":                  {"api", "api/client", "api/conclavepb", "cluster", "config", "internal/pki", "kv"},
	"api":                  {"cluster", "config", "kv", "naming", "locks", "pg", "acl", "registry", "api/conclavepb", "internal/pki", "internal/wire"},
	"api/client":           {"api/conclavepb", "internal/pki"},
	"api/conclavepb":       {},
	"cluster":              {"config", "gossip", "internode", "raftcore", "kv", "naming", "locks", "pg", "acl", "registry", "internal/pki", "internal/wire"},
	"config":               {"internal/wire"},
	"gossip":               {"internal/wire"},
	"internode":            {"internal/pki", "internal/wire"},
	"raftcore":             {"internal/wire"},
	"kv":                   {"internal/wire"},
	"naming":               {"internal/wire"},
	"locks":                {"internal/wire"},
	"pg":                   {"internal/wire"},
	"acl":                  {"internal/wire"},
	"registry":             {"internal/wire"},
	"internal/testcluster": {"cluster", "config", "internal/pki"},
	"internal/bench":       {"api", "api/client", "cluster", "config", "internal/testcluster"},
	"internal/archtest":    {},
	// internal/wire is the vocabulary every domain speaks (DESIGN §2): the
	// codec, the command envelope's header, the (code, detail) refusal and
	// the shared identifier checks. It imports nothing of ours.
	"internal/wire": {},
	// internal/pki is a stateless leaf (certificates, node identity, TLS
	// configs from files) shared by every door that speaks TLS.
	"internal/pki": {},
	// internal/fuzzcheck is imported by fuzz tests only.
	"internal/fuzzcheck": {},
}

// part maps an import path of ours to the most specific part it belongs to.
func part(pkg string) string {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	best := ""
	for p := range allowed {
		if (rel == p || strings.HasPrefix(rel, p+"/")) && len(p) > len(best) {
			best = p
		}
	}
	return best
}

func TestPackageDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-test", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := fields[0]
		// Test variants ("p [p.test]", "p_test") may use test harnesses.
		if strings.Contains(line, ".test]") || strings.HasSuffix(pkg, "_test") || strings.HasSuffix(pkg, ".test") {
			continue
		}
		from := part(pkg)
		if from == "" {
			t.Errorf("%s belongs to no known part: add it to DESIGN §2 and this test", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			to := part(imp)
			if to == from || strings.HasPrefix(to, from+"/") {
				continue
			}
			ok := false
			for _, a := range allowed[from] {
				if to == a {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s imports %s: %s may not depend on %s (DESIGN §2)", pkg, imp, from, to)
			}
		}
	}
}

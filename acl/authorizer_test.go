package acl

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/conclave-dev/conclave/internal/wire"
)

func rules(t *testing.T, ss ...string) []Rule {
	t.Helper()
	out := make([]Rule, 0, len(ss))
	for _, s := range ss {
		r, err := ParseRule(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// The rule algebra: the longest matching prefix decides, deny wins a tie,
// write includes read, a rule only ever governs its own resource, and the
// default decides where no rule matches.
func TestAuthorizerAllowed(t *testing.T) {
	type check struct {
		res  Resource
		name string
		want Access
		ok   bool
	}
	tests := map[string]struct {
		rules        []string
		defaultAllow bool
		checks       []check
	}{
		"write includes read": {
			rules:  []string{"kv app/ write"},
			checks: []check{{ResKV, "app/x", Read, true}, {ResKV, "app/x", Write, true}},
		},
		"read does not give write": {
			rules:  []string{"kv app/ read"},
			checks: []check{{ResKV, "app/x", Read, true}, {ResKV, "app/x", Write, false}},
		},
		"longest prefix wins over a shorter deny": {
			rules:  []string{"kv app/ deny", "kv app/public/ read"},
			checks: []check{{ResKV, "app/public/a", Read, true}, {ResKV, "app/public/a", Write, false}, {ResKV, "app/secret", Read, false}},
		},
		"longest prefix wins over a shorter write": {
			rules:  []string{"lock jobs/ write", "lock jobs/ro/ read"},
			checks: []check{{ResLock, "jobs/ro/x", Write, false}, {ResLock, "jobs/ro/x", Read, true}, {ResLock, "jobs/x", Write, true}},
		},
		"a deny on a longer prefix carves out of a shorter write": {
			rules:  []string{"kv * write", "kv secret/ deny"},
			checks: []check{{ResKV, "secret/a", Read, false}, {ResKV, "secret/a", Write, false}, {ResKV, "secretary", Write, true}, {ResKV, "x", Write, true}},
		},
		"deny wins a tie of equal length (deny last)": {
			rules:  []string{"kv ab write", "kv ab deny"},
			checks: []check{{ResKV, "abc", Read, false}, {ResKV, "abc", Write, false}},
		},
		"deny wins a tie of equal length (deny first)": {
			rules:  []string{"kv ab deny", "kv ab write"},
			checks: []check{{ResKV, "abc", Read, false}, {ResKV, "abc", Write, false}},
		},
		"deny wins a tie among everything rules": {
			rules:  []string{"name * write", "name * deny", "name * read"},
			checks: []check{{ResName, "x", Read, false}},
		},
		"write wins a tie with read": {
			rules:  []string{"kv ab read", "kv ab write", "kv ab read"},
			checks: []check{{ResKV, "ab", Write, true}},
		},
		"everything matches every name, the empty one included": {
			rules:  []string{"group * read"},
			checks: []check{{ResGroup, "", Read, true}, {ResGroup, "x", Read, true}, {ResGroup, "*", Read, true}, {ResGroup, "\xff", Read, true}, {ResGroup, "", Write, false}},
		},
		"any literal prefix is longer than everything": {
			rules:  []string{"kv * deny", "kv a read"},
			checks: []check{{ResKV, "a", Read, true}, {ResKV, "b", Read, false}},
		},
		"a prefix does not match a shorter name": {
			rules:  []string{"kv abc write"},
			checks: []check{{ResKV, "ab", Read, false}, {ResKV, "", Read, false}},
		},
		"rules of other resources never apply (default deny)": {
			rules:  []string{"kv * write", "lock * write", "name * deny"},
			checks: []check{{ResGroup, "x", Read, false}, {ResOperator, "n1", Read, false}, {ResACL, "", Write, false}, {ResKV, "x", Write, true}},
		},
		"rules of other resources never apply (default allow)": {
			rules:        []string{"kv * deny"},
			defaultAllow: true,
			checks:       []check{{ResLock, "x", Write, true}, {ResKV, "x", Read, false}},
		},
		"default deny when no rule matches": {
			rules:  []string{"kv a/ write"},
			checks: []check{{ResKV, "b", Read, false}, {ResService, "s", Read, false}},
		},
		"default allow when no rule matches": {
			rules:        []string{"kv a/ read"},
			defaultAllow: true,
			checks:       []check{{ResKV, "b", Write, true}, {ResKV, "a/x", Write, false}, {ResKV, "a/x", Read, true}},
		},
		"no rules at all": {
			checks: []check{{ResKV, "x", Read, false}, {ResACL, "", Write, false}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := NewAuthorizer("acc", "", rules(t, tc.rules...), tc.defaultAllow)
			if !a.Enforcing() {
				t.Fatal("an authorizer over rules is not enforcing")
			}
			for _, c := range tc.checks {
				if got := a.Allowed(c.res, c.name, c.want); got != c.ok {
					t.Errorf("Allowed(%s, %q, %s) = %v, want %v", c.res, c.name, c.want, got, c.ok)
				}
			}
		})
	}
}

// The outcome does not depend on the order of the rules, only on their
// set: a token's policies are concatenated in the token's order.
func TestAuthorizerOrderIndependent(t *testing.T) {
	set := []string{"kv * read", "kv a write", "kv ab deny", "kv ab read", "kv abc write", "lock * write", "kv b read", "kv b write"}
	names := []string{"", "a", "ab", "abc", "abcd", "b", "bc", "c"}
	base := NewAuthorizer("x", "", rules(t, set...), false)
	for i := range set {
		rot := append(append([]string{}, set[i:]...), set[:i]...)
		rev := make([]string, len(rot))
		for j := range rot {
			rev[len(rot)-1-j] = rot[j]
		}
		for _, order := range [][]string{rot, rev} {
			a := NewAuthorizer("x", "", rules(t, order...), false)
			for _, n := range names {
				for _, acc := range []Access{Read, Write} {
					if a.Allowed(ResKV, n, acc) != base.Allowed(ResKV, n, acc) {
						t.Fatalf("order %v: Allowed(kv, %q, %s) differs from order %v", order, n, acc, set)
					}
				}
			}
		}
	}
}

func TestAllowAllAndNil(t *testing.T) {
	a := AllowAll()
	if a.Enforcing() || !a.Authenticated() || a.AccessorID != "" {
		t.Fatalf("AllowAll: enforcing %v authenticated %v", a.Enforcing(), a.Authenticated())
	}
	for _, r := range Resources() {
		if !a.Allowed(r, "", Write) || !a.Allowed(r, "anything", Read) || !a.Any(r, Write) {
			t.Fatalf("AllowAll refuses %s", r)
		}
	}
	var none *Authorizer
	if none.Allowed(ResKV, "x", Read) || none.Any(ResKV, Read) || none.Authenticated() || none.Enforcing() {
		t.Fatal("a nil authorizer allows something")
	}
}

func TestAuthorizerAny(t *testing.T) {
	tests := []struct {
		rules        []string
		defaultAllow bool
		res          Resource
		want         Access
		ok           bool
	}{
		{[]string{"kv a/ read"}, false, ResKV, Read, true},
		{[]string{"kv a/ read"}, false, ResKV, Write, false},
		{[]string{"kv a/ write"}, false, ResKV, Read, true},
		{[]string{"kv a/ write"}, false, ResKV, Write, true},
		{[]string{"kv * deny"}, false, ResKV, Read, false},
		{[]string{"kv * deny", "kv a/ read"}, false, ResKV, Read, true},
		{[]string{"kv * write"}, false, ResLock, Read, false},
		{nil, false, ResKV, Read, false},
		{nil, true, ResKV, Write, true},
	}
	for _, tc := range tests {
		a := NewAuthorizer("acc", "", rules(t, tc.rules...), tc.defaultAllow)
		if got := a.Any(tc.res, tc.want); got != tc.ok {
			t.Errorf("rules %v default allow %v: Any(%s, %s) = %v, want %v", tc.rules, tc.defaultAllow, tc.res, tc.want, got, tc.ok)
		}
	}
}

func TestAuthorizerAuthenticated(t *testing.T) {
	for _, tc := range []struct {
		accessor     string
		defaultAllow bool
		ok           bool
	}{
		{"", false, false}, // anonymous under default deny: no session
		{"", true, true},   // anonymous under default allow
		{"5f0c2a4e-0000-4000-8000-000000000000", false, true},
	} {
		if got := NewAuthorizer(tc.accessor, "", nil, tc.defaultAllow).Authenticated(); got != tc.ok {
			t.Errorf("accessor %q default allow %v: Authenticated %v, want %v", tc.accessor, tc.defaultAllow, got, tc.ok)
		}
	}
}

func TestParseRule(t *testing.T) {
	good := map[string]Rule{
		"lock jobs/ write":         {ResLock, "jobs/", Write},
		"kv * read":                {ResKV, Everything, Read},
		"  acl   *   deny  ":       {ResACL, Everything, Deny},
		"operator n1 write":        {ResOperator, "n1", Write},
		"service billing/ read":    {ResService, "billing/", Read},
		"group g write":            {ResGroup, "g", Write},
		"name svc/billing deny":    {ResName, "svc/billing", Deny},
		"kv \tx\t read":            {ResKV, "x", Read},
		"kv *x read":               {ResKV, "*x", Read},
		"kv caf\u00e9/ write":      {ResKV, "caf\u00e9/", Write},
		"kv jobs/nightly/ write":   {ResKV, "jobs/nightly/", Write},
		"service svc.billing read": {ResService, "svc.billing", Read},
	}
	for s, want := range good {
		got, err := ParseRule(s)
		if err != nil || got != want {
			t.Errorf("ParseRule(%q) = %+v, %v, want %+v", s, got, err, want)
		}
		if err == nil {
			again, err := ParseRule(got.String())
			if err != nil || again != got {
				t.Errorf("ParseRule(%q.String() = %q) = %+v, %v", s, got.String(), again, err)
			}
		}
	}
	bad := map[string]string{
		"":                       "want \"RESOURCE PREFIX ACCESS\"",
		"kv read":                "want \"RESOURCE PREFIX ACCESS\"",
		"kv a b read":            "want \"RESOURCE PREFIX ACCESS\"",
		"keys a/ read":           `unknown resource "keys"`,
		"KV a/ read":             `unknown resource "KV"`,
		"kv a/ admin":            `unknown access "admin"`,
		"kv a/ Write":            `unknown access "Write"`,
		"kv a/ read extra words": "want \"RESOURCE PREFIX ACCESS\"",
	}
	for s, want := range bad {
		if r, err := ParseRule(s); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), fmt.Sprintf("rule %q", s)) {
			t.Errorf("ParseRule(%q) = %+v, %v, want an error naming the rule and %s", s, r, err, want)
		}
	}
}

func TestParseResourceAndAccess(t *testing.T) {
	for _, r := range Resources() {
		got, err := ParseResource(r.String())
		if err != nil || got != r {
			t.Errorf("ParseResource(%q) = %v, %v", r.String(), got, err)
		}
	}
	for _, s := range []string{"", "kvs", "Lock", " kv", "resource(1)"} {
		if _, err := ParseResource(s); err == nil || !strings.Contains(err.Error(), "kv, lock, name, group, service, operator, acl") {
			t.Errorf("ParseResource(%q): %v, want an error listing the resources", s, err)
		}
	}
	for _, a := range []Access{Read, Write, Deny} {
		got, err := ParseAccess(a.String())
		if err != nil || got != a {
			t.Errorf("ParseAccess(%q) = %v, %v", a.String(), got, err)
		}
	}
	for _, s := range []string{"", "rw", "READ", "access(1)"} {
		if _, err := ParseAccess(s); err == nil || !strings.Contains(err.Error(), "want read, write or deny") {
			t.Errorf("ParseAccess(%q): %v", s, err)
		}
	}
	if Resource(0).String() != "resource(0)" || Resource(99).String() != "resource(99)" || Access(9).String() != "access(9)" {
		t.Fatalf("unknown values print as %s, %s, %s", Resource(0), Resource(99), Access(9))
	}
}

// Each policy the table would refuse is refused by Validate with an error
// that wraps ErrInvalid and names the field.
func TestPolicyValidate(t *testing.T) {
	ok := func() Policy {
		return Policy{Name: "app", Description: "d", Rules: []Rule{{ResKV, "a/", Read}, {ResLock, Everything, Write}}}
	}
	if p := ok(); p.Validate() != nil {
		t.Fatalf("a good policy: %v", p.Validate())
	}
	manyRules := make([]Rule, MaxRules+1)
	for i := range manyRules {
		manyRules[i] = Rule{ResKV, "a", Read}
	}
	tests := map[string]struct {
		edit  func(p *Policy)
		field string
	}{
		"unknown resource":      {func(p *Policy) { p.Rules[1].Resource = 8 }, "rules[1].resource"},
		"zero resource":         {func(p *Policy) { p.Rules[0].Resource = 0 }, "rules[0].resource"},
		"unknown access":        {func(p *Policy) { p.Rules[0].Access = 4 }, "rules[0].access"},
		"zero access":           {func(p *Policy) { p.Rules[1].Access = 0 }, "rules[1].access"},
		"empty prefix":          {func(p *Policy) { p.Rules[0].Prefix = "" }, "rules[0].prefix"},
		"prefix too long":       {func(p *Policy) { p.Rules[1].Prefix = strings.Repeat("x", MaxPrefixLen+1) }, "rules[1].prefix"},
		"prefix not UTF-8":      {func(p *Policy) { p.Rules[0].Prefix = "a\xff" }, "rules[0].prefix"},
		"no rules":              {func(p *Policy) { p.Rules = nil }, "rules"},
		"too many rules":        {func(p *Policy) { p.Rules = manyRules }, "rules"},
		"empty name":            {func(p *Policy) { p.Name = "" }, "name"},
		"name with a space":     {func(p *Policy) { p.Name = "my app" }, "name"},
		"name with a slash":     {func(p *Policy) { p.Name = "a/b" }, "name"},
		"name not ASCII":        {func(p *Policy) { p.Name = "caf\u00e9" }, "name"},
		"name too long":         {func(p *Policy) { p.Name = strings.Repeat("n", MaxPolicyNameLen+1) }, "name"},
		"description too long":  {func(p *Policy) { p.Description = strings.Repeat("d", MaxDescriptionLen+1) }, "description"},
		"description not UTF-8": {func(p *Policy) { p.Description = "\xc3" }, "description"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := ok()
			tc.edit(&p)
			err := p.Validate()
			if !errors.Is(err, wire.ErrInvalid) || !strings.HasPrefix(err.Error(), "invalid argument: "+tc.field+": ") {
				t.Fatalf("Validate = %v, want InvalidArgument naming %s", err, tc.field)
			}
		})
	}
	p := ok()
	p.Name = strings.Repeat("n", MaxPolicyNameLen)
	p.Description = strings.Repeat("d", MaxDescriptionLen)
	p.Rules = manyRules[:MaxRules]
	p.Rules[0].Prefix = strings.Repeat("x", MaxPrefixLen)
	if err := p.Validate(); err != nil {
		t.Fatalf("a policy at every limit: %v", err)
	}
}

// The commands' own checks (Command.Validate, which Screen and Apply
// share): each error wraps ErrInvalid and names the field.
func TestCommandValidate(t *testing.T) {
	const acc = "5f0c2a4e-1111-4222-8333-444455556666"
	tok := func(policies ...string) *Token {
		return &Token{AccessorID: acc, Policies: policies, hash: HashSecret("s")}
	}
	many := make([]string, MaxTokenPolicies+1)
	for i := range many {
		many[i] = fmt.Sprintf("p%d", i)
	}
	good := []Command{
		TokenCreate(tok("a", "b")),
		TokenCreate(tok()),
		TokenCreate(tok(many[:MaxTokenPolicies]...)),
		BootstrapCommand(tok(), 0),
		PolicySet(&Policy{Name: "p", Rules: []Rule{{ResKV, "*", Read}}}, true),
		PolicyDelete("p"),
		TokenDelete(acc),
	}
	for _, c := range good {
		if err := c.Validate(); err != nil {
			t.Errorf("op %d: %v", c.op, err)
		}
	}
	tests := map[string]struct {
		c     Command
		field string
	}{
		"duplicate policies":         {TokenCreate(tok("a", "b", "a")), "policies[2]"},
		"too many policies":          {TokenCreate(tok(many...)), "policies"},
		"bad policy name on a token": {TokenCreate(tok("a", "b c")), "policies[1]"},
		"bad accessor":               {TokenCreate(&Token{AccessorID: "nope"}), "accessor_id"},
		"accessor in capitals":       {TokenCreate(&Token{AccessorID: strings.ToUpper(acc)}), "accessor_id"},
		"accessor without dashes":    {TokenCreate(&Token{AccessorID: strings.ReplaceAll(acc, "-", "0")}), "accessor_id"},
		"no token":                   {TokenCreate(nil), "token"},
		"bootstrap bad accessor":     {BootstrapCommand(&Token{AccessorID: ""}, 0), "accessor_id"},
		"token description":          {TokenCreate(&Token{AccessorID: acc, Description: strings.Repeat("d", MaxDescriptionLen+1)}), "description"},
		"delete bad policy name":     {PolicyDelete(""), "name"},
		"delete bad accessor":        {TokenDelete("x"), "accessor_id"},
		"policy empty prefix":        {PolicySet(&Policy{Name: "p", Rules: []Rule{{ResKV, "", Read}}}, true), "rules[0].prefix"},
		"unknown op":                 {Command{op: 99}, "op"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.c.Validate()
			if !errors.Is(err, wire.ErrInvalid) || !strings.HasPrefix(err.Error(), "invalid argument: "+tc.field+": ") {
				t.Fatalf("Validate = %v, want InvalidArgument naming %s", err, tc.field)
			}
		})
	}
}

func TestTokenFromHeader(t *testing.T) {
	for v, want := range map[string]struct {
		secret string
		ok     bool
	}{
		"":             {"", true},
		"Bearer abc":   {"abc", true},
		"bearer  abc ": {"abc", true},
		"Basic abc":    {"", false},
		"Bearer":       {"", false},
		"Bearer ":      {"", false},
		"abc":          {"", false},
	} {
		if s, ok := TokenFromHeader(v); s != want.secret || ok != want.ok {
			t.Errorf("TokenFromHeader(%q) = %q, %v, want %q, %v", v, s, ok, want.secret, want.ok)
		}
	}
}

func TestDenied(t *testing.T) {
	err := Denied(ResKV, "x", Write)
	if !errors.Is(err, ErrPermissionDenied) || err.Error() != `permission denied: kv "x" needs write access` {
		t.Fatalf("Denied = %v", err)
	}
	if err := Denied(ResACL, "", Read); err.Error() != "permission denied: acl (any) needs read access" {
		t.Fatalf("Denied with no name = %v", err)
	}
}

// Allowed agrees with the rules' meaning written the slow way, over many
// random rule sets: collect the matching rules of the resource, keep the
// longest, and read them deny over write over read.
func TestAuthorizerAgreesWithTheModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 15))
	prefixes := []string{Everything, "a", "ab", "abc", "b", "ba", "*", "*a"}
	names := []string{"", "a", "ab", "abc", "abcd", "b", "ba", "bab", "c", "*", "*a"}
	for range 2000 {
		var rs []Rule
		for range rng.IntN(6) {
			rs = append(rs, Rule{Resource: Resource(1 + rng.IntN(2)), Prefix: prefixes[rng.IntN(len(prefixes))], Access: Access(1 + rng.IntN(3))})
		}
		defaultAllow := rng.IntN(2) == 0
		a := NewAuthorizer("x", "", rs, defaultAllow)
		for _, res := range []Resource{ResKV, ResLock, ResName} {
			for _, n := range names {
				for _, want := range []Access{Read, Write} {
					if got, model := a.Allowed(res, n, want), modelAllowed(rs, defaultAllow, res, n, want); got != model {
						t.Fatalf("rules %v default allow %v: Allowed(%s, %q, %s) = %v, the model says %v", rs, defaultAllow, res, n, want, got, model)
					}
				}
			}
		}
	}
}

func modelAllowed(rs []Rule, defaultAllow bool, res Resource, name string, want Access) bool {
	longest := -1
	var at []Access
	for _, r := range rs {
		l := -1
		if r.Resource != res {
			continue
		}
		if r.Prefix == Everything {
			l = 0
		} else if len(name) >= len(r.Prefix) && name[:len(r.Prefix)] == r.Prefix {
			l = len(r.Prefix)
		}
		if l < 0 {
			continue
		}
		if l > longest {
			longest, at = l, nil
		}
		if l == longest {
			at = append(at, r.Access)
		}
	}
	if longest < 0 {
		return defaultAllow
	}
	has := func(x Access) bool {
		for _, a := range at {
			if a == x {
				return true
			}
		}
		return false
	}
	switch {
	case has(Deny):
		return false
	case has(Write):
		return true
	default:
		return want == Read
	}
}

func TestAllowedPrefix(t *testing.T) {
	rules := []Rule{
		{Resource: ResKV, Prefix: "app/", Access: Write},
		{Resource: ResKV, Prefix: "app/secret/", Access: Read},
		{Resource: ResKV, Prefix: "app/open/", Access: Write},
		{Resource: ResLock, Prefix: "app/x", Access: Deny},
	}
	a := NewAuthorizer("t", "", rules, false)
	for _, tc := range []struct {
		prefix  string
		ok      bool
		blocked string
	}{
		{"app/", false, "app/secret/"},
		{"app/open/", true, ""},
		{"app/secret/", false, "app/secret/"},
		{"app/s", false, "app/secret/"},
		{"app/other", true, ""},
		{"other/", false, "other/"},
	} {
		ok, blocked := a.AllowedPrefix(ResKV, tc.prefix, Write)
		if ok != tc.ok || blocked != tc.blocked {
			t.Errorf("AllowedPrefix(kv %q write) = %v, %q; want %v, %q", tc.prefix, ok, blocked, tc.ok, tc.blocked)
		}
	}
	// With default allow, a deny inside the prefix still blocks it.
	d := NewAuthorizer("t", "", []Rule{{Resource: ResKV, Prefix: "a/b/", Access: Deny}}, true)
	if ok, blocked := d.AllowedPrefix(ResKV, "a/", Write); ok || blocked != "a/b/" {
		t.Errorf("default allow with a deny inside: %v, %q", ok, blocked)
	}
	if ok, _ := AllowAll().AllowedPrefix(ResKV, "x", Write); !ok {
		t.Error("AllowAll refused a prefix")
	}
}

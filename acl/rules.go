package acl

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Resource is what a rule governs. The names are the words operators
// write in rules and see in refusals; their numbers are the table's
// encoding: append only.
type Resource byte

const (
	ResKV Resource = iota + 1
	ResLock
	ResName
	ResGroup
	ResService
	ResOperator
	ResACL
)

var resourceNames = [...]string{ResKV: "kv", ResLock: "lock", ResName: "name", ResGroup: "group", ResService: "service", ResOperator: "operator", ResACL: "acl"}

// Resources lists every resource, in order.
func Resources() []Resource {
	return []Resource{ResKV, ResLock, ResName, ResGroup, ResService, ResOperator, ResACL}
}

func (r Resource) String() string {
	if r.valid() {
		return resourceNames[r]
	}
	return fmt.Sprintf("resource(%d)", byte(r))
}

func (r Resource) valid() bool { return r >= ResKV && r <= ResACL }

// ParseResource reads a resource's name.
func ParseResource(s string) (Resource, error) {
	for _, r := range Resources() {
		if resourceNames[r] == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("unknown resource %q (want one of %s)", s, strings.Join(resourceNames[1:], ", "))
}

// Access is what a rule grants: read, write (which includes read), or deny
// (which takes both away).
type Access byte

const (
	Read Access = iota + 1
	Write
	Deny
)

var accessNames = [...]string{Read: "read", Write: "write", Deny: "deny"}

func (a Access) String() string {
	if a.valid() {
		return accessNames[a]
	}
	return fmt.Sprintf("access(%d)", byte(a))
}

func (a Access) valid() bool { return a >= Read && a <= Deny }

// ParseAccess reads an access's name.
func ParseAccess(s string) (Access, error) {
	for a := Read; a <= Deny; a++ {
		if accessNames[a] == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("unknown access %q (want read, write or deny)", s)
}

// Everything is the prefix that matches every name: a rule for all of a
// resource says so in a word, an empty prefix is refused as a likely
// mistake.
const Everything = "*"

// Rule grants (or denies) access to the names of a resource that start
// with Prefix; Prefix Everything matches every name.
type Rule struct {
	Resource Resource
	Prefix   string
	Access   Access
}

func (r Rule) String() string { return r.Resource.String() + " " + r.Prefix + " " + r.Access.String() }

// matchLen is how specific the rule is for name: the prefix's length, 0
// for Everything, -1 when it does not match.
func (r Rule) matchLen(name string) int {
	switch {
	case r.Prefix == Everything:
		return 0
	case strings.HasPrefix(name, r.Prefix):
		return len(r.Prefix)
	}
	return -1
}

// ParseRule reads a rule written "RESOURCE PREFIX ACCESS", as the CLI
// takes it ("lock jobs/ write", "kv * read").
func ParseRule(s string) (Rule, error) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return Rule{}, fmt.Errorf("rule %q: want \"RESOURCE PREFIX ACCESS\" (e.g. \"lock jobs/ write\"; * for every name)", s)
	}
	res, err := ParseResource(f[0])
	if err != nil {
		return Rule{}, fmt.Errorf("rule %q: %w", s, err)
	}
	acc, err := ParseAccess(f[2])
	if err != nil {
		return Rule{}, fmt.Errorf("rule %q: %w", s, err)
	}
	return Rule{Resource: res, Prefix: f[1], Access: acc}, nil
}

// Limits of the table, enforced where a command is applied.
const (
	MaxPolicyNameLen  = 128
	MaxDescriptionLen = 256
	MaxPrefixLen      = wire.MaxNameLen
	MaxRules          = 256
	MaxPolicies       = 1024   // in the table
	MaxTokenPolicies  = 32     // on one token
	MaxTokens         = 100000 // in the table
)

// Policy is a named list of rules.
type Policy struct {
	Name        string
	Description string
	Rules       []Rule
	CreateIndex uint64 // Raft index that created it
	ModifyIndex uint64 // Raft index of its last change
}

// Management is the built-in policy bootstrap gives the first token: write
// on everything. It cannot be deleted or changed.
const Management = "global-management"

// managementPolicy is Management's definition.
func managementPolicy() *Policy {
	p := &Policy{Name: Management, Description: "write on every resource (built in)"}
	for _, r := range Resources() {
		p.Rules = append(p.Rules, Rule{Resource: r, Prefix: Everything, Access: Write})
	}
	return p
}

// ValidatePolicyName checks a policy's name; the error names field.
func ValidatePolicyName(field, name string) error {
	switch {
	case name == "":
		return wire.Invalidf(field, "must not be empty")
	case len(name) > MaxPolicyNameLen:
		return wire.Invalidf(field, "is %d bytes, the limit is %d", len(name), MaxPolicyNameLen)
	}
	for i, r := range name {
		if !(r == '-' || r == '_' || r == '.' || r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))) {
			return wire.Invalidf(field, "%q: character %q at byte %d (letters, digits, - _ . only)", name, r, i)
		}
	}
	return nil
}

// Validate checks a policy as the table will: its name, description and
// every rule. The error names the field ("rules[2].prefix").
func (p *Policy) Validate() error {
	if err := ValidatePolicyName("name", p.Name); err != nil {
		return err
	}
	if err := validDescription(p.Description); err != nil {
		return err
	}
	switch {
	case len(p.Rules) == 0:
		return wire.Invalidf("rules", "a policy needs at least one rule")
	case len(p.Rules) > MaxRules:
		return wire.Invalidf("rules", "%d rules, the limit is %d", len(p.Rules), MaxRules)
	}
	for i, r := range p.Rules {
		field := fmt.Sprintf("rules[%d]", i)
		switch {
		case !r.Resource.valid():
			return wire.Invalidf(field+".resource", "unknown resource %d", byte(r.Resource))
		case !r.Access.valid():
			return wire.Invalidf(field+".access", "unknown access %d", byte(r.Access))
		case r.Prefix == "":
			return wire.Invalidf(field+".prefix", "must not be empty (write %s for every name)", Everything)
		case len(r.Prefix) > MaxPrefixLen:
			return wire.Invalidf(field+".prefix", "is %d bytes, the limit is %d", len(r.Prefix), MaxPrefixLen)
		case !utf8.ValidString(r.Prefix):
			return wire.Invalidf(field+".prefix", "is not valid UTF-8")
		}
	}
	return nil
}

func validDescription(d string) error {
	switch {
	case len(d) > MaxDescriptionLen:
		return wire.Invalidf("description", "is %d bytes, the limit is %d", len(d), MaxDescriptionLen)
	case !utf8.ValidString(d):
		return wire.Invalidf("description", "is not valid UTF-8")
	}
	return nil
}

package acl

import "strings"

// Authorizer answers whether a token may act on a name: it is the token's
// policies' rules with the cluster's default for names no rule matches. It
// is immutable; a policy change makes new ones.
type Authorizer struct {
	// AccessorID names the token in audit lines and listings ("" for a
	// request with no token: anonymous).
	AccessorID string
	// Description is the token's, for audit lines.
	Description string
	rules       []Rule
	defaultAll  bool // no rule matches: allow (default_policy allow)
	all         bool // ACLs are off: everything is allowed
}

// AllowAll is the authorizer when ACLs are off.
func AllowAll() *Authorizer { return &Authorizer{all: true} }

// NewAuthorizer is an authorizer over rules; names no rule matches are
// allowed when defaultAllow is set and denied otherwise.
func NewAuthorizer(accessorID, description string, rules []Rule, defaultAllow bool) *Authorizer {
	return &Authorizer{AccessorID: accessorID, Description: description, rules: rules, defaultAll: defaultAllow}
}

// Allowed reports whether access on the name of resource is granted. The
// longest matching prefix decides; among rules of that length deny wins,
// then write (which includes read). With no matching rule the default
// decides.
func (a *Authorizer) Allowed(res Resource, name string, want Access) bool {
	if a == nil {
		return false
	}
	if a.all {
		return true
	}
	best, granted := -1, Access(0)
	for _, r := range a.rules {
		if r.Resource != res {
			continue
		}
		n := r.matchLen(name)
		switch {
		case n < 0 || n < best:
			continue
		case n > best:
			best, granted = n, r.Access
		case r.Access == Deny || granted == Deny:
			granted = Deny
		case r.Access > granted:
			granted = r.Access
		}
	}
	switch {
	case best < 0:
		return a.defaultAll
	case granted == Deny:
		return false
	case want == Read:
		return granted == Read || granted == Write
	default:
		return granted == want
	}
}

// AllowedPrefix reports whether access is granted on every name that
// starts with prefix (a prefix delete): on the prefix itself, and by every
// rule for a longer prefix inside it, which decides the names under it.
// When it is not, blocked is the name to refuse (the prefix, or the rule's
// prefix that takes the access away).
func (a *Authorizer) AllowedPrefix(res Resource, prefix string, want Access) (ok bool, blocked string) {
	if a == nil {
		return false, prefix
	}
	if a.all {
		return true, ""
	}
	if !a.Allowed(res, prefix, want) {
		return false, prefix
	}
	for _, r := range a.rules {
		if r.Resource != res || r.Prefix == Everything || len(r.Prefix) <= len(prefix) || !strings.HasPrefix(r.Prefix, prefix) {
			continue
		}
		if !a.Allowed(res, r.Prefix, want) {
			return false, r.Prefix
		}
	}
	return true, ""
}

// Any reports whether the token may have access on some name of the
// resource: a listing is worth running (and then filtered by Allowed).
func (a *Authorizer) Any(res Resource, want Access) bool {
	if a == nil {
		return false
	}
	if a.all || a.defaultAll {
		return true
	}
	for _, r := range a.rules {
		if r.Resource == res && r.Access != Deny && (want == Read || r.Access == Write) {
			return true
		}
	}
	return false
}

// Authenticated reports whether the caller may make calls that need a
// token but no particular access (open a session): it presented a valid
// token, or the default policy is allow, or ACLs are off.
func (a *Authorizer) Authenticated() bool {
	return a != nil && (a.all || a.defaultAll || a.AccessorID != "")
}

// Enforcing reports whether ACLs are on (false for AllowAll).
func (a *Authorizer) Enforcing() bool { return a != nil && !a.all }

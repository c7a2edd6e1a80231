package registry

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Validate checks a registration against the table's rules (not its
// state); the error wraps ErrInvalid and names the field ("meta: ...").
// An empty ID (the session's PID) and an empty protocol ("tcp") are
// valid: Normalize fills them.
func (r Registration) Validate() error {
	if err := ValidateService("service", r.Service); err != nil {
		return err
	}
	if r.ID != "" {
		if err := validateID(r.ID); err != nil {
			return err
		}
	}
	if err := ValidateEndpoint("endpoint", r.Endpoint); err != nil {
		return err
	}
	if r.Protocol != "" && !slices.Contains(Protocols, r.Protocol) {
		return wire.Invalidf("protocol", "%q is not one of %v", r.Protocol, Protocols)
	}
	if len(r.Type) > MaxTypeLen {
		return wire.Invalidf("type", "is %d bytes, the limit is %d", len(r.Type), MaxTypeLen)
	}
	if r.Type != "" {
		if err := printable("type", r.Type); err != nil {
			return err
		}
	}
	if err := validateLabels("tags", r.Tags, MaxTags); err != nil {
		return err
	}
	if err := validateLabels("groups", r.Groups, MaxGroups); err != nil {
		return err
	}
	if err := validateMeta(r.Meta); err != nil {
		return err
	}
	if len(r.Checks) > MaxChecks {
		return wire.Invalidf("checks", "%d checks, the limit is %d", len(r.Checks), MaxChecks)
	}
	for i, c := range r.Checks {
		if err := c.validate(fmt.Sprintf("checks[%d]", i)); err != nil {
			return err
		}
	}
	return nil
}

// Defaults of an active check (http, tcp, grpc) that leaves them out.
const (
	DefaultCheckInterval = 10 * time.Second
	DefaultCheckTimeout  = 5 * time.Second
)

// WithCheckDefaults returns r with each active check's zero interval and
// timeout filled in: DefaultCheckInterval, and the smaller of
// DefaultCheckTimeout and half the interval. Register applies it before
// validating, so a check may name only its kind (and target).
func (r Registration) WithCheckDefaults() Registration {
	r.Checks = slices.Clone(r.Checks)
	for i := range r.Checks {
		c := &r.Checks[i]
		if c.Kind == CheckTTL {
			continue
		}
		if c.Interval == 0 {
			c.Interval = DefaultCheckInterval
		}
		if c.Timeout == 0 {
			c.Timeout = min(DefaultCheckTimeout, c.Interval/2)
		}
	}
	return r
}

// Normalize returns r with the defaults filled in: the ID (pid), the
// protocol ("tcp"), and tags and groups without duplicates, sorted.
func (r Registration) Normalize(pid string) Registration {
	if r.ID == "" {
		r.ID = pid
	}
	if r.Protocol == "" {
		r.Protocol = "tcp"
	}
	r.Tags = sortedSet(r.Tags)
	r.Groups = sortedSet(r.Groups)
	r.Checks = slices.Clone(r.Checks)
	return r
}

func sortedSet(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// ValidateService checks a service name: the name rules of internal/wire
// (1-256 bytes of printable UTF-8, not starting with "_sys").
func ValidateService(field, service string) error {
	return wire.ValidateName(field, service, false)
}

func validateID(id string) error {
	switch {
	case id == "":
		return wire.Invalidf("id", "must not be empty")
	case len(id) > MaxIDLen:
		return wire.Invalidf("id", "is %d bytes, the limit is %d", len(id), MaxIDLen)
	}
	return printable("id", id)
}

// ValidateEndpoint checks a host:port with a non-empty host and a port
// in 1-65535.
func ValidateEndpoint(field, ep string) error {
	if ep == "" {
		return wire.Invalidf(field, "must not be empty (host:port)")
	}
	if len(ep) > MaxEndpointLen {
		return wire.Invalidf(field, "is %d bytes, the limit is %d", len(ep), MaxEndpointLen)
	}
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		return wire.Invalidf(field, "%q is not host:port: %v", ep, err)
	}
	if host == "" {
		return wire.Invalidf(field, "%q has no host", ep)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return wire.Invalidf(field, "%q: the port must be a number in 1-65535", ep)
	}
	return printable(field, ep)
}

func validateLabels(field string, ls []string, limit int) error {
	if len(ls) > limit {
		return wire.Invalidf(field, "%d entries, the limit is %d", len(ls), limit)
	}
	for i, l := range ls {
		f := fmt.Sprintf("%s[%d]", field, i)
		if len(l) > MaxLabelLen {
			return wire.Invalidf(f, "is %d bytes, the limit is %d", len(l), MaxLabelLen)
		}
		if err := wire.ValidateName(f, l, true); err != nil {
			return err
		}
	}
	return nil
}

func validateMeta(m map[string]string) error {
	total := 0
	for k, v := range m {
		total += len(k) + len(v)
	}
	if total > MaxMetaBytes {
		return wire.Invalidf("meta", "is %d bytes (keys and values), the limit is %d", total, MaxMetaBytes)
	}
	for _, k := range sortedKeys(m) {
		switch {
		case k == "":
			return wire.Invalidf("meta", "a key is empty")
		case len(k) > MaxMetaKeyLen:
			return wire.Invalidf("meta", "key %.32q... is %d bytes, the limit is %d", k, len(k), MaxMetaKeyLen)
		case !utf8.ValidString(k) || !utf8.ValidString(m[k]):
			return wire.Invalidf("meta", "key %q: not valid UTF-8", k)
		}
		if err := printable("meta", k); err != nil {
			return err
		}
	}
	return nil
}

func (c Check) validate(field string) error {
	if len(c.Target) > MaxTargetLen {
		return wire.Invalidf(field+".target", "is %d bytes, the limit is %d", len(c.Target), MaxTargetLen)
	}
	for _, th := range []struct {
		name string
		v    int
	}{{"successes_before_passing", c.SuccessesBeforePassing}, {"failures_before_critical", c.FailuresBeforeCritical}} {
		if th.v < 0 || th.v > MaxThreshold {
			return wire.Invalidf(field+"."+th.name, "is %d, must be in 0-%d", th.v, MaxThreshold)
		}
	}
	switch c.Kind {
	case CheckTTL:
		if c.TTL < MinTTL || c.TTL > MaxTTL {
			return wire.Invalidf(field+".ttl", "is %s, must be in %s-%s", c.TTL, MinTTL, MaxTTL)
		}
		if c.Target != "" {
			return wire.Invalidf(field+".target", "a ttl check has no target")
		}
		return nil
	case CheckHTTP:
		if c.Target != "" {
			u, err := url.Parse(c.Target)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return wire.Invalidf(field+".target", "%q is not an http:// or https:// URL", c.Target)
			}
		}
	case CheckTCP, CheckGRPC:
		if c.Target != "" {
			if err := ValidateEndpoint(field+".target", c.Target); err != nil {
				return err
			}
		}
	default:
		return wire.Invalidf(field+".kind", "%q is not one of ttl, http, tcp, grpc", c.Kind)
	}
	switch {
	case c.Interval < MinCheckInterval || c.Interval > MaxCheckInterval:
		return wire.Invalidf(field+".interval", "is %s, must be in %s-%s", c.Interval, MinCheckInterval, MaxCheckInterval)
	case c.Timeout <= 0 || c.Timeout >= c.Interval:
		return wire.Invalidf(field+".timeout", "is %s, must be positive and less than the interval (%s)", c.Timeout, c.Interval)
	case c.TTL != 0:
		return wire.Invalidf(field+".ttl", "only a ttl check has a ttl")
	}
	return nil
}

func validHealth(field string, h Health) error {
	if h < Passing || h > Critical {
		return wire.Invalidf(field, "%d is not passing, warning or critical", h)
	}
	return nil
}

func printable(field, s string) error {
	if !utf8.ValidString(s) {
		return wire.Invalidf(field, "is not valid UTF-8")
	}
	for i, r := range s {
		if !unicode.IsPrint(r) {
			return wire.Invalidf(field, "%q: unprintable character %U at byte %d", s, r, i)
		}
	}
	return nil
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

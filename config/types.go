package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written in YAML as a Go duration string ("2s",
// "500ms", "1m30s"). Bare numbers are refused: "reconcile_debounce: 2" is
// ambiguous between seconds and nanoseconds, and guessing wrong is silent.
type Duration time.Duration

// Duration returns d as a time.Duration.
func (d Duration) Duration() time.Duration { return time.Duration(d) }

// String formats d like time.Duration ("2s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes d as a duration string so a marshalled Config parses back.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML implements yaml.Unmarshaler for callers decoding with yaml.v3
// directly; Parse uses the same rules and reports them with key and line.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, problem := parseDuration(n)
	if problem != "" {
		return errors.New(problem)
	}
	*d = v
	return nil
}

// parseDuration returns the value or a problem in operator words.
func parseDuration(n *yaml.Node) (Duration, string) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return 0, "want a duration such as 2s, got " + describe(n)
	}
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		return 0, fmt.Sprintf("invalid duration %q", n.Value)
	}
	return Duration(v), ""
}

// StringList is a list of strings written either as a YAML sequence or as one
// comma-separated string ("a:7946,b:7946"), which is what an environment
// variable or a templating tool produces most easily. Entries are trimmed and
// empty ones dropped; an empty result is nil.
type StringList []string

// UnmarshalYAML implements yaml.Unmarshaler; see parseStringList.
func (l *StringList) UnmarshalYAML(n *yaml.Node) error {
	v, problem, _ := parseStringList(n)
	if problem != "" {
		return errors.New(problem)
	}
	*l = v
	return nil
}

// parseStringList returns the list, or a problem and the index of the
// offending element (-1 when the node as a whole is wrong).
func parseStringList(n *yaml.Node) (StringList, string, int) {
	var out StringList
	switch {
	case n.Kind == yaml.ScalarNode:
		for _, s := range strings.Split(n.Value, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	case n.Kind == yaml.SequenceNode:
		for i, e := range n.Content {
			e = resolveAlias(e)
			if e.Kind != yaml.ScalarNode || e.ShortTag() == "!!null" {
				return nil, "want a string, got " + describe(e), i
			}
			if s := strings.TrimSpace(e.Value); s != "" {
				out = append(out, s)
			}
		}
	default:
		return nil, "want a comma-separated string or a list of strings, got " + describe(n), -1
	}
	return out, "", -1
}

// resolveAlias follows *anchor references to the node they name.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// describe names what the operator wrote, for "want X, got Y" messages. Long
// scalars are cut so one bad value cannot flood the terminal.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "null"
		}
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return fmt.Sprintf("%q", v)
	}
	return "an unexpected YAML node"
}

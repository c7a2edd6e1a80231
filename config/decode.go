package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads the file at path and parses it with Parse; errors name path.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		// Not ErrInvalid: the file could not be read, nothing in it is wrong.
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes data over Default(), strictly, then validates the result and
// resolves the gossip key (so an unreadable secret file is refused now, not
// at the first gossip packet). source names the file in error messages.
//
// Every problem is reported, not just the first: unknown keys, wrong types
// and bad durations with their line, then (if decoding succeeded) every
// validation failure, with the line of the key when the file set it. The
// error wraps ErrInvalid; on error the returned Config is the zero value.
//
// A key with no value (`name:`) or null keeps its default, as in yaml.v3. An
// empty file, or one holding only comments, means Default().
func Parse(data []byte, source string) (Config, error) {
	d := decoder{file: source, lines: map[string]int{}}
	root, err := d.document(data)
	if err != nil {
		return Config{}, err
	}
	c := Default()
	if root != nil {
		d.walk(root, reflect.ValueOf(&c).Elem(), "")
	}
	if len(d.errs) > 0 {
		return Config{}, joinErrors(d.errs)
	}
	errs := c.validate()
	// The secret file is read only when the inline rules passed: with both
	// keys set, "not both" is the one useful message.
	if c.Cluster.Membership.SecretFile != "" && c.Cluster.Membership.Secret == "" {
		if _, e := c.gossipKey(); e != nil {
			errs = append(errs, e)
		}
	}
	for _, e := range errs {
		e.File = source
		e.Line = d.lineOf(e.Key)
	}
	if len(errs) > 0 {
		return Config{}, joinErrors(errs)
	}
	return c, nil
}

// decoder walks a yaml.Node tree against the Config struct, setting fields as
// it goes and collecting problems with their dotted key and line. yaml.v3's
// own KnownFields errors carry neither the path nor, for types, our wording.
type decoder struct {
	file string
	// lines maps a dotted key to the line where the file set it, so that
	// validation errors found later can point at the line too.
	lines map[string]int
	errs  []*Error
}

// yamlLineRE pulls the line number out of yaml.v3 syntax errors
// ("yaml: line 3: mapping values are not allowed in this context").
var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document parses data into its single document's root node; nil for an
// empty document.
func (d *decoder) document(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, d.syntaxError(err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, d.syntaxError(err)
	case len(extra.Content) > 0 && !isNull(extra.Content[0]):
		// A second document would be silently ignored; better to say so.
		return nil, &Error{File: d.file, Line: extra.Content[0].Line, Problem: "more than one YAML document; want one"}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := resolveAlias(doc.Content[0])
	if isNull(root) {
		return nil, nil
	}
	return root, nil
}

func (d *decoder) syntaxError(err error) *Error {
	e := &Error{File: d.file, Problem: "invalid YAML: " + err.Error(), Err: err}
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Problem = "invalid YAML: " + m[2]
		// yaml.v3 (v3.0.1) prints scanner errors with 1-based lines but
		// parser errors, all worded "did not find expected ...", with the
		// 0-based line of the construct left open. TestParseErrors pins both.
		if strings.HasPrefix(m[2], "did not find expected") {
			e.Line++
		}
	}
	return e
}

func (d *decoder) fail(n *yaml.Node, key, problem string) {
	d.errs = append(d.errs, &Error{File: d.file, Line: n.Line, Key: key, Problem: problem})
}

// lineOf finds the line for a validation error's key, falling back from a
// list element ("join_addrs[2]") to the list when the file wrote a string.
func (d *decoder) lineOf(key string) int {
	if l, ok := d.lines[key]; ok {
		return l
	}
	if i := strings.LastIndexByte(key, '['); i > 0 {
		return d.lines[key[:i]]
	}
	return 0
}

var (
	durationType   = reflect.TypeFor[Duration]()
	stringListType = reflect.TypeFor[StringList]()
)

// walk decodes n into v, which is addressable, at dotted path key.
func (d *decoder) walk(n *yaml.Node, v reflect.Value, key string) {
	n = resolveAlias(n)
	if isNull(n) {
		return // yaml.v3 semantics: no value keeps what is there (the default)
	}
	switch v.Type() {
	case durationType:
		dur, problem := parseDuration(n)
		if problem != "" {
			d.fail(n, key, problem)
			return
		}
		v.Set(reflect.ValueOf(dur))
		return
	case stringListType:
		list, problem, idx := parseStringList(n)
		if problem != "" {
			k, at := key, n
			if idx >= 0 {
				k, at = fmt.Sprintf("%s[%d]", key, idx), n.Content[idx]
			}
			d.fail(at, k, problem)
			return
		}
		if n.Kind == yaml.SequenceNode {
			for i, e := range n.Content {
				d.lines[fmt.Sprintf("%s[%d]", key, i)] = e.Line
			}
		}
		v.Set(reflect.ValueOf(list))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.walkStruct(n, v, key)
	case reflect.Bool:
		// Decode accepts true/false and yaml.v3's YAML 1.1 compatibility
		// spellings (yes/no, on/off), which operators still write.
		var b bool
		if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
			d.fail(n, key, "want true or false, got "+describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int:
		// The tag check refuses floats, which Decode would truncate, and
		// quoted numbers, which are a sign of a mistake elsewhere.
		var i int
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			d.fail(n, key, "want an integer, got "+describe(n))
			return
		}
		v.SetInt(int64(i))
	case reflect.String:
		// Any scalar is a string: "name: 42" means the node named "42".
		if n.Kind != yaml.ScalarNode {
			d.fail(n, key, "want a string, got "+describe(n))
			return
		}
		v.SetString(n.Value)
	default:
		// Only reachable if the schema gains a field type walk does not know.
		d.fail(n, key, fmt.Sprintf("internal error: no decoder for %s", v.Type()))
	}
}

// walkStruct decodes a mapping into struct v by yaml tag. Merge keys (<<) are
// applied first so explicit keys override them, as YAML specifies.
func (d *decoder) walkStruct(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.MappingNode {
		if key == "" {
			d.fail(n, "", "want a mapping of keys at the top level, got "+describe(n))
			return
		}
		d.fail(n, key, "want a mapping, got "+describe(n))
		return
	}
	fields := yamlFields(v.Type())
	seen := map[string]int{}
	for pass := 0; pass < 2; pass++ {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			isMerge := k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge"
			if isMerge != (pass == 0) {
				continue
			}
			if isMerge {
				d.merge(val, v, key)
				continue
			}
			if k.Kind != yaml.ScalarNode {
				d.fail(k, key, "want a key name, got "+describe(k))
				continue
			}
			path := join(key, k.Value)
			idx, ok := fields[k.Value]
			if !ok {
				d.fail(k, path, "unknown key")
				continue
			}
			if first, dup := seen[k.Value]; dup {
				d.fail(k, path, fmt.Sprintf("duplicate key, first set at line %d", first))
				continue
			}
			seen[k.Value] = k.Line
			d.lines[path] = k.Line
			d.walk(val, v.Field(idx), path)
		}
	}
}

// merge applies the value of a "<<" key: a mapping or a list of mappings.
func (d *decoder) merge(val *yaml.Node, v reflect.Value, key string) {
	val = resolveAlias(val)
	if val.Kind == yaml.SequenceNode {
		// Earlier mappings in the list win, so apply them last.
		for i := len(val.Content) - 1; i >= 0; i-- {
			d.walkStruct(resolveAlias(val.Content[i]), v, key)
		}
		return
	}
	d.walkStruct(val, v, key)
}

// yamlFields maps a struct's yaml key names to field indexes.
func yamlFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null") || n.Kind == 0
}

package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// These decode with plain yaml.v3, the path a caller takes when embedding a
// Duration or StringList in its own struct; Parse's messages are tested in
// decode_test.go.
func TestDurationYAML(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		"seconds":      {in: "2s", want: 2 * time.Second},
		"milliseconds": {in: "500ms", want: 500 * time.Millisecond},
		"compound":     {in: `"1m30s"`, want: 90 * time.Second},
		"zero":         {in: "0s", want: 0},
		"bare integer": {in: "2", wantErr: `want a duration such as 2s, got "2"`},
		"bare float":   {in: "1.5", wantErr: `want a duration such as 2s, got "1.5"`},
		"bad unit":     {in: "2x", wantErr: `invalid duration "2x"`},
		"list":         {in: "[1s]", wantErr: "want a duration such as 2s, got a list"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var d Duration
			err := yaml.Unmarshal([]byte(tc.in), &d)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || d.Duration() != tc.want {
				t.Fatalf("got %v, %v; want %v", d, err, tc.want)
			}
			out, err := yaml.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			var back Duration
			if err := yaml.Unmarshal(out, &back); err != nil || back != d {
				t.Errorf("round trip via %q = %v, %v", out, back, err)
			}
		})
	}
}

func TestStringListYAML(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    StringList
		wantErr string
	}{
		"comma string":   {in: `"a:7946, b:7946 ,,c"`, want: StringList{"a:7946", "b:7946", "c"}},
		"single":         {in: "a:7946", want: StringList{"a:7946"}},
		"list":           {in: "[a:7946, ' b ', '']", want: StringList{"a:7946", "b"}},
		"empty string":   {in: `""`, want: nil},
		"empty list":     {in: "[]", want: nil},
		"mapping":        {in: "{a: 1}", wantErr: "want a comma-separated string or a list of strings, got a mapping"},
		"nested list":    {in: "[a, [b]]", wantErr: "want a string, got a list"},
		"null in a list": {in: "[a, ~]", wantErr: "want a string, got null"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var l StringList
			err := yaml.Unmarshal([]byte(tc.in), &l)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(l, tc.want) {
				t.Fatalf("got %#v, %v; want %#v", l, err, tc.want)
			}
		})
	}
}

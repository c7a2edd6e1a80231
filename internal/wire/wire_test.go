package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCodecRoundTrip(t *testing.T) {
	now := time.Unix(1700000000, 123).UTC()
	e := NewEncoder(9)
	e.Byte(7)
	e.Bool(true)
	e.Uvarint(300)
	e.Bytes([]byte("ab"))
	e.String("héllo")
	e.Time(now)
	e.Time(time.Time{})
	e.Duration(3 * time.Second)
	e.Bytes(nil)

	d := NewDecoder(e.Data())
	if got := d.Byte(); got != 9 {
		t.Fatalf("prefix = %d", got)
	}
	if d.Byte() != 7 || !d.Bool() || d.Uvarint() != 300 {
		t.Fatal("byte/bool/uvarint did not round-trip")
	}
	if b := d.Bytes(); !bytes.Equal(b, []byte("ab")) {
		t.Fatalf("bytes = %q", b)
	}
	if s := d.String(); s != "héllo" {
		t.Fatalf("string = %q", s)
	}
	if tm := d.Time(); !tm.Equal(now) {
		t.Fatalf("time = %v, want %v", tm, now)
	}
	if tm := d.Time(); !tm.IsZero() {
		t.Fatalf("zero time = %v", tm)
	}
	if du := d.Duration(); du != 3*time.Second {
		t.Fatalf("duration = %v", du)
	}
	if b := d.Bytes(); b == nil || len(b) != 0 {
		t.Fatalf("empty bytes = %#v, want empty non-nil", b)
	}
	if err := d.Done(); err != nil {
		t.Fatal(err)
	}
}

func TestDecoderRefusesBadInput(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":          {},
		"short string":   {5, 'a'},
		"bad uvarint":    {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"huge count":     {0xff, 0xff, 0x03},
		"over the limit": {3, 'a', 'b', 'c'},
	} {
		d := NewDecoder(b)
		switch name {
		case "huge count":
			_ = d.Count(1)
		case "over the limit":
			_ = d.StringMax(2)
		default:
			_ = d.String()
		}
		if !errors.Is(d.Done(), ErrMalformed) {
			t.Errorf("%s: Done() = %v, want ErrMalformed", name, d.Done())
		}
	}
	d := NewDecoder([]byte{1, 'a', 'x'})
	_ = d.String()
	if err := d.Done(); err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Fatalf("trailing bytes: Done() = %v", err)
	}
}

// TestDecoderFieldNamesTheFailedRead: a read that fails says which field
// it was reading; the first failure sticks, so a later Field does not
// rename it; a caller's own Fail says what it says.
func TestDecoderFieldNamesTheFailedRead(t *testing.T) {
	for name, c := range map[string]struct {
		in   []byte
		read func(d *Decoder)
		want string
	}{
		"string": {[]byte{1, 'a', 9}, func(d *Decoder) {
			_ = d.Field("scope").String()
			_ = d.Field("group").String()
			_ = d.Field("pid").String()
		}, "malformed encoding: group: length exceeds the input or the limit"},
		"uvarint": {[]byte{1}, func(d *Decoder) {
			d.Field("incarnation").Uvarint()
			d.Field("seq").Uvarint()
		}, "malformed encoding: seq"},
		"count":    {[]byte{9}, func(d *Decoder) { d.Field("ops").Count(1) }, "malformed encoding: ops: count exceeds the input"},
		"no field": {[]byte{}, func(d *Decoder) { d.Byte() }, "malformed encoding"},
		"caller's own": {[]byte{7}, func(d *Decoder) {
			if d.Field("op").Byte() > 1 {
				d.Fail("op: unknown value 7")
			}
		}, "malformed encoding: op: unknown value 7"},
	} {
		d := NewDecoder(c.in)
		c.read(d)
		if err := d.Err(); !errors.Is(err, ErrMalformed) || err.Error() != c.want {
			t.Errorf("%s: Err() = %v, want %q", name, err, c.want)
		}
	}
}

func TestDecodedBytesDoNotAlias(t *testing.T) {
	in := []byte{2, 'a', 'b'}
	b := NewDecoder(in).Bytes()
	in[1] = 'z'
	if string(b) != "ab" {
		t.Fatalf("decoded bytes alias the input: %q", b)
	}
}

func TestCommandHeader(t *testing.T) {
	c := Command(2, 5)
	c.String("x")
	table, op, d, err := ParseCommand(c.Data())
	if err != nil || table != 2 || op != 5 || d.String() != "x" || d.Done() != nil {
		t.Fatalf("ParseCommand = %d %d %v", table, op, err)
	}
	if _, _, _, err := ParseCommand([]byte{CommandVersion, 1}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated header: %v", err)
	}
	if _, _, _, err := ParseCommand([]byte{99, 1, 1}); err == nil || !strings.Contains(err.Error(), "version 99") {
		t.Fatalf("unknown version: %v", err)
	}
}

func TestResultRoundTrip(t *testing.T) {
	r := Result()
	r.Uvarint(42)
	d, refused := ParseResult(r.Data())
	if refused != nil || d.Uvarint() != 42 || d.Done() != nil {
		t.Fatalf("OK result: %v", refused)
	}

	sentinel := errors.New("held")
	e := Refuse(4, sentinel, "lock %q is held by %s", "x", "n1/ab")
	e.Extra = []byte{1, 2}
	if !errors.Is(e, sentinel) || e.Error() != `lock "x" is held by n1/ab` {
		t.Fatalf("Refuse: %v", e)
	}
	_, got := ParseResult(Refusal(e))
	if got == nil || got.Code != 4 || got.Detail != e.Detail || !bytes.Equal(got.Extra, []byte{1, 2}) || got.Err != nil {
		t.Fatalf("refusal round trip = %+v", got)
	}

	_, got = ParseResult(Refusal(Invalidf("key", "must not be empty")))
	if got == nil || got.Code != Invalid || !errors.Is(got, ErrInvalid) || got.Detail != "invalid argument: key: must not be empty" {
		t.Fatalf("plain error as refusal = %+v", got)
	}
	if _, got := ParseResult(nil); got == nil || got.Code != Invalid {
		t.Fatalf("empty result = %+v", got)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{ValidateName("name", "", false), "name: must not be empty"},
		{ValidateName("name", "_sys/x", false), "reserved"},
		{ValidateName("name", "a\x00", false), "unprintable"},
		{ValidateName("group", strings.Repeat("a", MaxNameLen+1), false), "group: is 257 bytes"},
		{ValidatePID("pid", "nosession"), "not <node>/<session-id>"},
		{ValidatePID("pid", "n1/a b"), "space"},
		{ValidateNode("node", "a/b"), "must not contain whitespace, '/'"},
		{ValidateNode("node", strings.Repeat("n", MaxNodeNameLen+1)), "must be at most 128 bytes"},
		{ValidatePrefix("prefix", strings.Repeat("p", MaxNameLen+1)), "longer than"},
	} {
		if c.err == nil || !errors.Is(c.err, ErrInvalid) || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("got %v, want ErrInvalid containing %q", c.err, c.want)
		}
	}
	for _, err := range []error{
		ValidateName("name", "orders/leader", false),
		ValidateName("group", "_sys", true),
		ValidatePID("pid", "n1/0a1b"),
		ValidateNode("node", "n1"),
		ValidatePrefix("prefix", ""),
	} {
		if err != nil {
			t.Errorf("valid input refused: %v", err)
		}
	}
	if NodeOf("n1/ab") != "n1" || NodeOf("x") != "" {
		t.Fatal("NodeOf")
	}
}

func FuzzDecoder(f *testing.F) {
	f.Add([]byte{1, 2, 3, 'a', 'b', 'c'})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder(b)
		_ = d.Count(2)
		_ = d.String()
		_ = d.BytesMax(16)
		_ = d.Duration()
		_ = d.Done()
		_, _, _, _ = ParseCommand(b)
		_, _ = ParseResult(b)
	})
}

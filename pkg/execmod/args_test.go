package execmod

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestBind(t *testing.T) {
	got, err := Bind("cmd.run", []any{"ls", "/tmp"}, map[string]any{"env": "x"}, "cmd", "cwd", "stdin")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"cmd": "ls", "cwd": "/tmp", "env": "x"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Bind = %v, want %v", got, want)
	}
	if _, err := Bind("test.echo", []any{"a", "b"}, nil, "text"); err == nil || !strings.Contains(err.Error(), "at most 1 positional argument (2 given)") {
		t.Fatalf("too many positionals: %v", err)
	}
	if _, err := Bind("test.echo", []any{"a"}, map[string]any{"text": "b"}, "text"); err == nil || !strings.Contains(err.Error(), `multiple values for argument "text"`) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := Unknown("test.echo", map[string]any{"text": 1, "__pub_jid": 2, "bogus": 3}, "text"); err == nil || !strings.Contains(err.Error(), `"bogus"`) {
		t.Fatalf("unknown: %v", err)
	}
	if err := Require("test.echo", map[string]any{"text": nil}, "text"); err == nil {
		t.Fatal("nil required argument accepted")
	}
}

func TestCoerce(t *testing.T) {
	kw := map[string]any{
		"s": "abc", "i": 10, "istr": " 42 ", "f": 3.0, "fhalf": 1.5, "btrue": "Yes", "bfalse": "off",
		"bint": 0, "list": []any{"a", 1, true}, "csv": "a, b,c", "flow": `["x", 2]`,
		"map": map[string]any{"a": 1}, "flowmap": `{"a": 1, "b": [2]}`, "envlist": []any{map[string]any{"A": "1"}, map[string]any{"B": "2"}},
		"nil": nil,
	}
	if s, err := Str(kw, "i", ""); err != nil || s != "10" {
		t.Errorf("Str(i) = %q, %v", s, err)
	}
	if s, err := Str(kw, "btrue", ""); err != nil || s != "Yes" {
		t.Errorf("Str(btrue) = %q, %v", s, err)
	}
	if s, err := Str(kw, "nil", "def"); err != nil || s != "def" {
		t.Errorf("Str(nil) = %q, %v", s, err)
	}
	if _, err := Str(kw, "list", ""); err == nil {
		t.Error("Str(list) accepted")
	}
	if i, err := Int(kw, "istr", 0); err != nil || i != 42 {
		t.Errorf("Int(istr) = %d, %v", i, err)
	}
	if i, err := Int(kw, "f", 0); err != nil || i != 3 {
		t.Errorf("Int(f) = %d, %v", i, err)
	}
	_, err := Int(kw, "fhalf", 0)
	var ae *ArgError
	if !errors.As(err, &ae) || ae.Arg != "fhalf" || !strings.Contains(err.Error(), `argument "fhalf": want an integer, got 1.5 (float)`) {
		t.Errorf("Int(fhalf) error = %v", err)
	}
	for key, want := range map[string]bool{"btrue": true, "bfalse": false, "bint": false} {
		if b, err := Bool(kw, key, !want); err != nil || b != want {
			t.Errorf("Bool(%s) = %v, %v", key, b, err)
		}
	}
	if _, err := Bool(kw, "s", false); err == nil || !strings.Contains(err.Error(), `argument "s": want a boolean, got "abc" (string)`) {
		t.Errorf("Bool(s) error = %v", err)
	}
	for key, want := range map[string][]string{"list": {"a", "1", "True"}, "csv": {"a", "b", "c"}, "flow": {"x", "2"}, "s": {"abc"}} {
		if l, err := StrList(kw, key); err != nil || !reflect.DeepEqual(l, want) {
			t.Errorf("StrList(%s) = %v, %v", key, l, err)
		}
	}
	if _, err := StrList(kw, "map"); err == nil {
		t.Error("StrList(map) accepted")
	}
	if m, err := Map(kw, "flowmap"); err != nil || !reflect.DeepEqual(m, map[string]any{"a": 1, "b": []any{2}}) {
		t.Errorf("Map(flowmap) = %v, %v", m, err)
	}
	if _, err := Map(kw, "s"); err == nil {
		t.Error("Map(s) accepted")
	}
	if m, err := MapList(kw, "envlist"); err != nil || !reflect.DeepEqual(m, map[string]any{"A": "1", "B": "2"}) {
		t.Errorf("MapList(envlist) = %v, %v", m, err)
	}
	if f, err := Float(kw, "istr", 0); err != nil || f != 42 {
		t.Errorf("Float(istr) = %v, %v", f, err)
	}
	if l, err := List(kw, "flow"); err != nil || !reflect.DeepEqual(l, []any{"x", 2}) {
		t.Errorf("List(flow) = %v, %v", l, err)
	}
}

// An argument error shows the offending value as the user wrote it in
// YAML (Python's notation), never in Go's map[...] form.
func TestArgErrorShowsValueInPythonNotation(t *testing.T) {
	for _, c := range []struct {
		got  any
		want string
	}{
		{map[string]any{"b": []any{1, "x"}, "a": true}, `{'a': True, 'b': [1, 'x']} (map)`},
		{[]any{nil, 2.5}, `[None, 2.5] (list)`},
		{[]any{"it's"}, `["it's"] (list)`},
		{"ten", `"ten" (string)`},
	} {
		err := &ArgError{Arg: "mode", Want: "an octal file mode", Got: c.got}
		want := `argument "mode": want an octal file mode, got ` + c.want
		if err.Error() != want {
			t.Errorf("got %s\nwant %s", err.Error(), want)
		}
	}
}

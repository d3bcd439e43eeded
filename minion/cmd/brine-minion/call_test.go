package main

import (
	"reflect"
	"testing"
)

func TestParseCallArgs(t *testing.T) {
	args, kwargs := parseCallArgs([]string{
		"web,db", "10", "True", "[a, b]", "{x: 1}", "a: b", "- x", "#x", "None",
		"test=True", "pillar={\"x\": 1}", "mode=0644", "empty=", "list=[1, 2]", "s=hello world", "a.b-c=1", "==x", "1a=2",
	})
	wantArgs := []any{"web,db", 10, true, []any{"a", "b"}, map[string]any{"x": 1}, "a: b", "- x", "#x", nil, "==x", "1a=2"}
	if len(args) != len(wantArgs) {
		t.Fatalf("args %#v", args)
	}
	for i := range wantArgs {
		if !equalNum(args[i], wantArgs[i]) {
			t.Errorf("arg %d: got %#v want %#v", i, args[i], wantArgs[i])
		}
	}
	wantKw := map[string]any{"test": true, "pillar": map[string]any{"x": 1}, "mode": 644, "empty": "", "list": []any{1, 2}, "s": "hello world", "a.b-c": 1}
	if len(kwargs) != len(wantKw) {
		t.Fatalf("kwargs %#v", kwargs)
	}
	for k, v := range wantKw {
		if !equalNum(kwargs[k], v) {
			t.Errorf("kwarg %s: got %#v want %#v", k, kwargs[k], v)
		}
	}
}

// equalNum compares ignoring the Go integer type the decoder picked.
func equalNum(a, b any) bool {
	switch x := a.(type) {
	case int64:
		a = int(x)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalNum(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k := range x {
			if !equalNum(x[k], y[k]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func TestParseCallFlagsAnywhere(t *testing.T) {
	f, err := parseCallFlags([]string{"--local", "state.apply", "web", "--out=json", "--file-root", "/a,/b", "test=True", "--id", "m1"})
	if err != nil {
		t.Fatal(err)
	}
	if !f.local || f.out != "json" || f.id != "m1" || len(f.fileRoots) != 2 {
		t.Fatalf("flags %+v", f)
	}
	if !reflect.DeepEqual(f.positional, []string{"state.apply", "web", "test=True"}) {
		t.Fatalf("positional %v", f.positional)
	}
	if _, err := parseCallFlags([]string{"--out"}); err == nil {
		t.Fatal("flag without value accepted")
	}
}

// FuzzYamlifyArg checks that no command-line value panics the parser and
// that a value is only ever turned into a mapping or a list when it was
// written in flow form, as Salt requires.
func FuzzYamlifyArg(f *testing.F) {
	for _, s := range []string{"True", "10", "[a, b]", "{a: 1}", "a: b", "#c", "|", "!", "None", "0644", "'q'", "- x", "{", "[1, [2, {3: 4}]]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		switch yamlifyArg(s).(type) {
		case map[string]any:
			if len(s) == 0 || s[0] != '{' {
				t.Fatalf("%q became a mapping without braces", s)
			}
		case []any:
			if len(s) == 0 || s[0] != '[' {
				t.Fatalf("%q became a list without brackets", s)
			}
		}
	})
}

package output

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/brine-cm/brine/proto"
)

func sampleStates() map[string]any {
	return map[string]any{
		"file_|-/tmp/x_|-/tmp/x_|-managed": proto.StateResult{
			ID: "/tmp/x", Name: "/tmp/x", Result: proto.BoolPtr(true),
			Changes: map[string]any{"diff": "New file", "mode": "0644"},
			Comment: "File /tmp/x updated", SLS: "web", RunNum: 1,
			StartTime: "12:00:00.123456", Duration: 1.234,
		},
		"cmd_|-hello_|-echo hi_|-run": proto.StateResult{
			ID: "hello", Name: "echo hi", Result: proto.BoolPtr(true),
			Changes: map[string]any{}, Comment: "Already done", SLS: "web", RunNum: 0,
			StartTime: "12:00:00.100000", Duration: 2,
		},
	}
}

func TestHighstateLayout(t *testing.T) {
	var b bytes.Buffer
	if err := Fprint(&b, "highstate", map[string]any{"local": sampleStates()}, Options{}); err != nil {
		t.Fatal(err)
	}
	want := `local:
----------
          ID: hello
    Function: cmd.run
        Name: echo hi
      Result: True
     Comment: Already done
     Started: 12:00:00.100000
    Duration: 2.0 ms
     Changes:   
----------
          ID: /tmp/x
    Function: file.managed
      Result: True
     Comment: File /tmp/x updated
     Started: 12:00:00.123456
    Duration: 1.234 ms
     Changes:   
              ----------
              diff:
                  New file
              mode:
                  0644

Summary for local
------------
Succeeded: 2 (changed=1)
Failed:    0
------------
Total states run:     2
Total run time:   3.234 ms
`
	if got := b.String(); got != want {
		t.Fatalf("highstate output differs\n--- got\n%s\n--- want\n%s", got, want)
	}
}

func TestHighstateFailuresAndTestMode(t *testing.T) {
	data := map[string]any{
		"file_|-a_|-a_|-managed": map[string]any{"result": false, "changes": map[string]any{}, "comment": "boom\nline2", "__run_num__": int64(0), "duration": 1.5, "start_time": "1"},
		"file_|-b_|-b_|-managed": map[string]any{"result": nil, "changes": map[string]any{"x": "y"}, "comment": "would", "__run_num__": int64(1), "duration": 1.0, "start_time": "2"},
	}
	var b bytes.Buffer
	Fprint(&b, "highstate", map[string]any{"m1": data}, Options{})
	got := b.String()
	for _, s := range []string{"     Comment: boom\n              line2\n", "Succeeded: 1 (unchanged=1, changed=1)\n", "Failed:    1\n", "Total states run:     2\n"} {
		if !strings.Contains(got, s) {
			t.Errorf("missing %q in\n%s", s, got)
		}
	}
}

func TestHighstateCompileErrors(t *testing.T) {
	var b bytes.Buffer
	Fprint(&b, "highstate", map[string]any{"local": []string{"web.sls:3:1: bad", "other"}}, Options{})
	want := "local:\n    Data failed to compile:\n----------\n    web.sls:3:1: bad\n----------\n    other\n"
	if b.String() != want {
		t.Fatalf("got %q want %q", b.String(), want)
	}
}

func TestJSONShape(t *testing.T) {
	var b bytes.Buffer
	if err := Fprint(&b, "json", map[string]any{"local": sampleStates()}, Options{}); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	var decoded map[string]map[string]map[string]any
	if err := json.Unmarshal(b.Bytes(), &decoded); err != nil {
		t.Fatalf("invalid json: %v\n%s", err, got)
	}
	r := decoded["local"]["file_|-/tmp/x_|-/tmp/x_|-managed"]
	if r["result"] != true || r["__run_num__"] != 1.0 || r["__id__"] != "/tmp/x" {
		t.Fatalf("bad state result %v", r)
	}
	// Execution order, 4-space indent, Python float form.
	if strings.Index(got, "cmd_|-hello") > strings.Index(got, "file_|-/tmp/x") {
		t.Errorf("states not in run order:\n%s", got)
	}
	if !strings.Contains(got, "{\n    \"local\": {\n        \"cmd_|-hello_|-echo hi_|-run\": {\n            \"name\": \"echo hi\",") {
		t.Errorf("unexpected layout:\n%s", got)
	}
	if !strings.Contains(got, `"duration": 2.0,`) {
		t.Errorf("float not in Python form:\n%s", got)
	}
}

func TestNested(t *testing.T) {
	var b bytes.Buffer
	Fprint(&b, "nested", map[string]any{"local": map[string]any{"a": []any{"x", map[string]any{"k": 1}}, "b": true, "c": "l1\nl2"}}, Options{})
	want := `local:
    ----------
    a:
        - x
        |_
          ----------
          k:
              1
    b:
        True
    c:
        l1
        l2
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestYAMLTxtRaw(t *testing.T) {
	res := map[string]any{"local": map[string]any{"s": "yes", "n": int64(1), "l": []any{"a", map[string]any{"k": "v", "j": ""}}, "e": map[string]any{}}}
	var b bytes.Buffer
	Fprint(&b, "yaml", res, Options{})
	want := "local:\n  e: {}\n  l:\n  - a\n  - j: ''\n    k: v\n  n: 1\n  s: 'yes'\n"
	if b.String() != want {
		t.Fatalf("yaml got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	Fprint(&b, "txt", map[string]any{"local": true}, Options{})
	if b.String() != "local: True\n" {
		t.Fatalf("txt got %q", b.String())
	}
	b.Reset()
	Fprint(&b, "raw", map[string]any{"local": map[string]any{"a": []any{"it's", nil}}}, Options{})
	if b.String() != `{'local': {'a': ["it's", None]}}`+"\n" {
		t.Fatalf("raw got %q", b.String())
	}
	if err := Fprint(&b, "bogus", res, Options{}); err == nil {
		t.Fatal("unknown format accepted")
	}
}

func TestPyFloat(t *testing.T) {
	for f, want := range map[float64]string{1: "1.0", 1.5: "1.5", 1e16: "1e+16", 0.0001: "0.0001", 0.00001: "1e-05", 123.456: "123.456"} {
		if got := pyFloat(f); got != want {
			t.Errorf("pyFloat(%v)=%q want %q", f, got, want)
		}
	}
}

func TestColorOnlyWhenAsked(t *testing.T) {
	var b bytes.Buffer
	Fprint(&b, "highstate", map[string]any{"local": sampleStates()}, Options{Color: true})
	if !strings.Contains(b.String(), "\033[0;32m") {
		t.Fatal("no colours with Color set")
	}
	if IsTerminal(&b) {
		t.Fatal("buffer is not a terminal")
	}
}

package diff

import (
	"encoding/json"
	"os"
	"testing"
)

// TestGoldenDifflib compares against output recorded from Python's
// difflib.unified_diff (testdata/difflib_golden.json), including inputs
// over 200 lines where difflib's autojunk heuristic applies.
func TestGoldenDifflib(t *testing.T) {
	raw, err := os.ReadFile("testdata/difflib_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct{ A, B, Diff string }
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 10 {
		t.Fatalf("only %d golden cases", len(cases))
	}
	for i, c := range cases {
		if got := Unified(c.A, c.B, Options{}); got != c.Diff {
			t.Errorf("case %d:\n--- got ---\n%s\n--- want ---\n%s", i, got, c.Diff)
		}
	}
}

func TestHeaderAndRanges(t *testing.T) {
	got := Unified("a\nb\nc\n", "a\nc\nd\n", Options{FromFile: "x", ToFile: "y"})
	want := "--- x\n+++ y\n@@ -1,3 +1,3 @@\n a\n-b\n c\n+d\n"
	if got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	if Unified("same\n", "same\n", Options{}) != "" {
		t.Fatal("equal texts must give an empty diff")
	}
}

func TestLines(t *testing.T) {
	l := Lines("a\nb")
	if len(l) != 2 || l[0] != "a\n" || l[1] != "b" {
		t.Fatalf("Lines = %q", l)
	}
	if Lines("") != nil {
		t.Fatal("empty text has no lines")
	}
	if !IsBinary([]byte{1, 0, 2}) || IsBinary([]byte("text")) {
		t.Fatal("IsBinary wrong")
	}
}

func BenchmarkUnified(b *testing.B) {
	var a, c string
	for i := 0; i < 2000; i++ {
		a += "line " + string(rune('a'+i%26)) + "\n"
		if i%50 == 0 {
			c += "changed\n"
		} else {
			c += "line " + string(rune('a'+i%26)) + "\n"
		}
	}
	b.ResetTimer()
	for b.Loop() {
		Unified(a, c, Options{})
	}
}

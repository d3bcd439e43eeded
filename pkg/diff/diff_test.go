package diff

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
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

// applyHunks rebuilds both sides from a diff of newline-terminated texts,
// so the fuzzer can check that no line is lost, duplicated or misplaced.
func applyHunks(t *testing.T, a, d string) (string, string) {
	t.Helper()
	al := Lines(a)
	var from, to strings.Builder
	pos := 0
	lines := Lines(d)
	if len(lines) < 2 {
		t.Fatalf("diff without header: %q", d)
	}
	for _, l := range lines[2:] {
		switch l[0] {
		case '@':
			var s1, n1, s2, n2 int
			parseRange(t, l, &s1, &n1, &s2, &n2)
			start := s1 - 1
			if n1 == 0 {
				start = s1
			}
			for ; pos < start; pos++ {
				from.WriteString(al[pos])
				to.WriteString(al[pos])
			}
		case ' ':
			from.WriteString(l[1:])
			to.WriteString(l[1:])
			pos++
		case '-':
			from.WriteString(l[1:])
			pos++
		case '+':
			to.WriteString(l[1:])
		default:
			t.Fatalf("bad diff line %q", l)
		}
	}
	for ; pos < len(al); pos++ {
		from.WriteString(al[pos])
		to.WriteString(al[pos])
	}
	return from.String(), to.String()
}

func parseRange(t *testing.T, l string, s1, n1, s2, n2 *int) {
	t.Helper()
	f := strings.Fields(l)
	one := func(s string, start, n *int) {
		a, b, ok := strings.Cut(s[1:], ",")
		*start, _ = strconv.Atoi(a)
		*n = 1
		if ok {
			*n, _ = strconv.Atoi(b)
		}
	}
	one(f[1], s1, n1)
	one(f[2], s2, n2)
}

func FuzzUnified(f *testing.F) {
	f.Add("a\nb\nc\n", "a\nc\nd\n")
	f.Add("", "x\n")
	f.Add("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\nX\n4\n5\n6\n7\nY\n9\n")
	f.Fuzz(func(t *testing.T, a, b string) {
		if strings.Contains(a, "\r") || strings.Contains(b, "\r") {
			return
		}
		if a != "" && !strings.HasSuffix(a, "\n") {
			a += "\n"
		}
		if b != "" && !strings.HasSuffix(b, "\n") {
			b += "\n"
		}
		d := Unified(a, b, Options{})
		if a == b {
			if d != "" {
				t.Fatalf("equal texts gave a diff %q", d)
			}
			return
		}
		gotA, gotB := applyHunks(t, a, d)
		if gotA != a || gotB != b {
			t.Fatalf("diff does not rebuild its inputs:\n%s", d)
		}
	})
}

package output

import (
	"fmt"
	"io"
	"testing"

	"github.com/brine-cm/brine/proto"
)

func manyStates(n int) map[string]proto.StateResult {
	m := make(map[string]proto.StateResult, n)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("/srv/app/files/f%05d.txt", i)
		m[proto.StateKey("file", name, name, "managed")] = proto.StateResult{
			ID: name, Name: name, Result: proto.BoolPtr(true), Changes: map[string]any{},
			Comment: "File " + name + " is in the correct state", SLS: "app", RunNum: i,
			StartTime: "12:00:00.000000", Duration: 0.123,
		}
	}
	return m
}

// BenchmarkPrint390 measures printing a 390-state return, the output step
// of every `call --local state.apply` on the benchmark tree.
func BenchmarkPrint390(b *testing.B) {
	res := map[string]any{"local": manyStates(390)}
	for _, f := range []string{"json", "highstate", "yaml"} {
		b.Run(f, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := Fprint(io.Discard, f, res, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package highstate

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/fileclient"
	"github.com/brine-cm/brine/proto"
	"github.com/brine-cm/brine/states"
)

// benchTree writes a state tree of nManaged file.managed (1 KB of
// distinct content each, served from salt://), nDirs file.directory,
// nCmds cmd.run guarded by creates and nLinks file.symlink, split over
// several SLS files as a real tree is. States write under the pillar
// value bench_root.
func benchTree(tb testing.TB, dir string, nManaged, nDirs, nCmds, nLinks int) (salt, pillar string) {
	tb.Helper()
	salt, pillar = filepath.Join(dir, "salt"), filepath.Join(dir, "pillar")
	must := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(salt, "bench", "files"), 0o755))
	must(os.MkdirAll(pillar, 0o755))
	const perSLS = 50
	var sls []string
	var cur strings.Builder
	n := 0
	flush := func() {
		if cur.Len() == 0 {
			return
		}
		name := fmt.Sprintf("part%03d", len(sls))
		must(os.WriteFile(filepath.Join(salt, "bench", name+".sls"), []byte("{% set root = pillar['bench_root'] %}\n"+cur.String()), 0o644))
		sls = append(sls, "bench."+name)
		cur.Reset()
	}
	add := func(s string) {
		cur.WriteString(s)
		n++
		if n%perSLS == 0 {
			flush()
		}
	}
	line := strings.Repeat("0123456789abcdef", 4) // 64 bytes
	for i := 0; i < nManaged; i++ {
		var body strings.Builder
		for body.Len() < 1024-64 {
			fmt.Fprintf(&body, "%05d %s\n", i, line[:57])
		}
		must(os.WriteFile(filepath.Join(salt, "bench", "files", fmt.Sprintf("f%05d.txt", i)), []byte(body.String()), 0o644))
		add(fmt.Sprintf("{{ root }}/files/f%05d.txt:\n  file.managed:\n    - source: salt://bench/files/f%05d.txt\n    - makedirs: True\n", i, i))
	}
	for i := 0; i < nDirs; i++ {
		add(fmt.Sprintf("{{ root }}/dirs/d%03d:\n  file.directory:\n    - makedirs: True\n", i))
	}
	for i := 0; i < nCmds; i++ {
		add(fmt.Sprintf("cmd-%03d:\n  cmd.run:\n    - name: touch {{ root }}/c%03d\n    - creates: {{ root }}/c%03d\n", i, i, i))
	}
	for i := 0; i < nLinks; i++ {
		add(fmt.Sprintf("{{ root }}/links/l%03d:\n  file.symlink:\n    - target: {{ root }}/files/f%05d.txt\n    - makedirs: True\n", i, i))
	}
	flush()
	top := "base:\n  '*':\n"
	for _, s := range sls {
		top += "    - " + s + "\n"
	}
	must(os.WriteFile(filepath.Join(salt, "top.sls"), []byte(top), 0o644))
	must(os.WriteFile(filepath.Join(pillar, "top.sls"), []byte("base:\n  '*':\n    - bench\n"), 0o644))
	return salt, pillar
}

// runMeasured runs the binary and returns its wall time and peak RSS.
func runMeasured(tb testing.TB, bin string, args ...string) (time.Duration, int64) {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	wall := time.Since(start)
	if err != nil {
		tb.Fatalf("brine-minion %v: %v\n%s", args, err, out)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		tb.Fatal("no rusage")
	}
	return wall, ru.Maxrss * 1024 // Linux reports KiB
}

// BenchmarkCallLocal measures the whole `brine-minion call --local
// state.apply` process (start-up, grains, pillar, render, compile, run,
// output) on a fresh target (first, after a sync) and on a converged one
// (noop), reporting wall time and peak RSS per process.
func BenchmarkCallLocal(b *testing.B) {
	bin := minionBinary(b)
	for _, tc := range []struct {
		name                          string
		managed, dirs, cmds, symlinks int
	}{
		{"states390", 300, 50, 20, 20},
		{"files3000", 3000, 0, 0, 0},
	} {
		dir := b.TempDir()
		salt, pillar := benchTree(b, dir, tc.managed, tc.dirs, tc.cmds, tc.symlinks)
		args := func(out string) []string {
			if err := os.WriteFile(filepath.Join(pillar, "bench.sls"), []byte("bench_root: "+out+"\n"), 0o644); err != nil {
				b.Fatal(err)
			}
			return []string{"call", "--local", "--config", "/dev/null", "--id", "bench",
				"--file-root", salt, "--pillar-root", pillar, "--out", "json", "state.apply"}
		}
		b.Run(tc.name+"/first", func(b *testing.B) {
			var wall time.Duration
			var rss int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				out := filepath.Join(b.TempDir(), "target")
				a := args(out)
				// Start each apply with nothing of the benchmark's own
				// waiting to be written back (the binary it built, the
				// tree, the previous apply's files): on a small virtual
				// disk that write-back, not brine, otherwise sets the time.
				syscall.Sync()
				b.StartTimer()
				w, r := runMeasured(b, bin, a...)
				wall += w
				rss = max(rss, r)
			}
			b.ReportMetric(float64(wall.Microseconds())/1000/float64(b.N), "ms/apply")
			b.ReportMetric(float64(rss)/(1<<20), "MB-peak-rss")
		})
		b.Run(tc.name+"/noop", func(b *testing.B) {
			out := filepath.Join(b.TempDir(), "target")
			a := args(out)
			runMeasured(b, bin, a...)
			b.ResetTimer()
			var wall time.Duration
			var rss int64
			for i := 0; i < b.N; i++ {
				w, r := runMeasured(b, bin, a...)
				wall += w
				rss = max(rss, r)
			}
			b.ReportMetric(float64(wall.Microseconds())/1000/float64(b.N), "ms/apply")
			b.ReportMetric(float64(rss)/(1<<20), "MB-peak-rss")
		})
	}
}

// TestBenchTreeConverges keeps the benchmark honest: the generated tree
// applies cleanly, and a second apply reports no changes.
func TestBenchTreeConverges(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and applies a 390-state tree")
	}
	dir := t.TempDir()
	salt, pillar := benchTree(t, dir, 30, 5, 2, 2)
	out := filepath.Join(dir, "target")
	if err := os.WriteFile(filepath.Join(pillar, "bench.sls"), []byte("bench_root: "+out+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"call", "--local", "--config", "/dev/null", "--id", "bench", "--file-root", salt, "--pillar-root", pillar, "--out", "highstate", "state.apply"}
	r := call(t, args...)
	if r.code != 0 || !strings.Contains(r.stdout, "Succeeded: 39 (changed=39)\n") {
		t.Fatalf("first apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = call(t, args...)
	if r.code != 0 || !strings.Contains(r.stdout, "Succeeded: 39\nFailed:     0\n") {
		t.Fatalf("second apply not clean: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// BenchmarkApplyInProcess runs the same state.apply as
// BenchmarkCallLocal/states390/first inside the test process (grains,
// file client and registries as call --local builds them), so a CPU
// profile (-cpuprofile) shows where a first apply spends its time
// without process start-up in the way.
func BenchmarkApplyInProcess(b *testing.B) {
	dir := b.TempDir()
	salt, _ := benchTree(b, dir, 300, 50, 20, 20)
	reg := execmod.Builtin()
	Register(reg, states.Builtin())
	grains := map[string]any{"id": "bench", "os": "Debian", "os_family": "Debian"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		out := filepath.Join(dir, fmt.Sprintf("target%d", i))
		i++
		ec := &execmod.Context{
			Ctx:      context.Background(),
			Grains:   grains,
			Pillar:   map[string]any{"bench_root": out},
			Opts:     map[string]any{"id": "bench", "state_top": "top.sls"},
			Files:    fileclient.NewLocal(salt),
			Registry: reg,
			Saltenv:  "base",
		}
		b.StartTimer()
		ret, err := reg.Call(ec, "state.apply", nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		if m, ok := ret.(map[string]proto.StateResult); !ok || len(m) != 390 || Failed(ret) {
			b.Fatalf("apply: %d results, failed=%v", len(m), Failed(ret))
		}
	}
}

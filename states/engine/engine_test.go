package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/fileclient"
	"github.com/brine-cm/brine/proto"
	"github.com/brine-cm/brine/states"
	"github.com/brine-cm/brine/states/compile"
	"github.com/brine-cm/brine/states/engine"
)

// compileRun compiles sls (as main.sls) with reg and runs it.
func compileRun(t testing.TB, ctx context.Context, reg *states.Registry, sls string, opts engine.Options) (map[string]proto.StateResult, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.sls"), []byte(sls), 0o644); err != nil {
		t.Fatal(err)
	}
	ec := &execmod.Context{Ctx: ctx, Files: fileclient.NewLocal(dir), Registry: execmod.Builtin(), Saltenv: "base",
		Grains: map[string]any{}, Pillar: map[string]any{}, Opts: map[string]any{}}
	chunks, err := compile.Compile(ec, []string{"main"}, compile.Options{States: reg})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	opts.States = reg
	opts.Exec = ec
	return engine.Run(ctx, chunks, opts)
}

// rendezvous is a state module whose calls only succeed when every
// expected call is in flight at once, proving parallel execution.
type rendezvous struct {
	want    int32
	arrived atomic.Int32
	all     chan struct{}
	once    sync.Once
}

func (rv *rendezvous) module() *states.Module {
	return &states.Module{Name: "meet", Funcs: map[string]states.Func{"here": func(r *states.Request) states.Result {
		if rv.arrived.Add(1) == rv.want {
			rv.once.Do(func() { close(rv.all) })
		}
		select {
		case <-rv.all:
			return states.Result{Result: proto.BoolPtr(true), Changes: map[string]any{"met": r.Name}, Comment: "met"}
		case <-time.After(10 * time.Second):
			return states.Result{Result: proto.BoolPtr(false), Comment: "ran alone"}
		case <-r.Exec.Context().Done():
			return states.Result{Result: proto.BoolPtr(false), Comment: "cancelled"}
		}
	}}}
}

func TestParallelStatesRunConcurrently(t *testing.T) {
	rv := &rendezvous{want: 3, all: make(chan struct{})}
	reg := states.NewRegistry()
	reg.Register(states.Test())
	reg.Register(rv.module())
	res, err := compileRun(t, context.Background(), reg, `
a:
  meet.here:
    - parallel: True
b:
  meet.here:
    - parallel: True
c:
  meet.here:
    - parallel: True
after:
  test.nop:
    - onchanges:
      - meet: a
      - meet: b
      - meet: c
`, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		r := res[proto.StateKey("meet", id, id, "here")]
		if r.Result == nil || !*r.Result || r.Comment != "met" {
			t.Errorf("%s: %+v", id, r)
		}
	}
	after := res["test_|-after_|-after_|-nop"]
	if after.Result == nil || !*after.Result || after.Comment != "Success!" || after.RunNum != 3 {
		t.Errorf("dependent of parallel states: %+v", after)
	}
}

func TestCancelledRunStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	reg := states.NewRegistry()
	reg.Register(&states.Module{Name: "stop", Funcs: map[string]states.Func{"now": func(r *states.Request) states.Result {
		calls.Add(1)
		cancel()
		return states.Result{Result: proto.BoolPtr(true)}
	}}})
	reg.Register(states.Test())
	res, err := compileRun(t, ctx, reg, "first:\n  stop.now\nsecond:\n  test.nop\n", engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 || len(res) != 1 {
		t.Fatalf("want only the first state after cancel, got %d calls and %v", calls.Load(), res)
	}
}

func TestPanicBecomesFailure(t *testing.T) {
	reg := states.NewRegistry()
	reg.Register(states.Test())
	reg.Register(&states.Module{Name: "boom", Funcs: map[string]states.Func{"go": func(*states.Request) states.Result {
		panic("kaboom")
	}}})
	res, err := compileRun(t, context.Background(), reg, "x:\n  boom.go\ny:\n  test.nop:\n    - require:\n      - boom: x\n", engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := res["boom_|-x_|-x_|-go"]
	if x.Result == nil || *x.Result || !strings.Contains(x.Comment, "An exception occurred in this state: kaboom") {
		t.Fatalf("panic not turned into a failure: %+v", x)
	}
	if y := res["test_|-y_|-y_|-nop"]; y.Comment != "One or more requisite failed: main.x" {
		t.Fatalf("dependent of a panicking state: %+v", y)
	}
}

func TestRunWithoutCompile(t *testing.T) {
	// state.single-style chunks: no order, unknown function reported per state.
	reg := states.Builtin()
	chunks := []states.Chunk{
		{State: "test", Fun: "nope", ID: "a", Name: "a", SLS: "single", Args: map[string]any{}},
		{State: "test", Fun: "succeed_with_changes", ID: "b", Name: "b", SLS: "single", Args: map[string]any{}},
	}
	res, err := engine.Run(context.Background(), chunks, engine.Options{States: reg, Exec: &execmod.Context{}})
	if err != nil {
		t.Fatal(err)
	}
	a := res["test_|-a_|-a_|-nope"]
	if a.Result == nil || *a.Result || a.Comment != "State 'test.nope' was not found in SLS 'single'\n" {
		t.Fatalf("unknown function: %+v", a)
	}
	if b := res["test_|-b_|-b_|-succeed_with_changes"]; b.Result == nil || !*b.Result {
		t.Fatalf("b: %+v", b)
	}
}

func TestListenWithoutModWatch(t *testing.T) {
	reg := states.NewRegistry()
	reg.Register(states.Test())
	reg.Register(&states.Module{Name: "plain", Funcs: map[string]states.Func{"run": func(*states.Request) states.Result {
		return states.Result{Result: proto.BoolPtr(true)}
	}}})
	res, err := compileRun(t, context.Background(), reg, "c:\n  test.succeed_with_changes\nl:\n  plain.run:\n    - listen:\n      - test: c\n", engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lr, ok := res["plain_|-listener_l_|-l_|-mod_watch"]
	if !ok || lr.Result == nil || *lr.Result || lr.Comment != "State 'plain.mod_watch' was not found in SLS 'main'\n" {
		t.Fatalf("listener without mod_watch: %+v (present %v)", lr, ok)
	}
}

func TestRequisiteErrorsRunNothing(t *testing.T) {
	var calls atomic.Int32
	reg := states.NewRegistry()
	reg.Register(&states.Module{Name: "count", Funcs: map[string]states.Func{"it": func(*states.Request) states.Result {
		calls.Add(1)
		return states.Result{Result: proto.BoolPtr(true)}
	}}})
	res, err := compileRun(t, context.Background(), reg, "a:\n  count.it\nb:\n  count.it:\n    - require:\n      - count: missing\n", engine.Options{})
	var ee *engine.Errors
	if !errors.As(err, &ee) || len(ee.List) != 1 || res != nil || calls.Load() != 0 {
		t.Fatalf("want *engine.Errors and nothing run, got %v, %v, %d calls", err, res, calls.Load())
	}
	if !strings.HasPrefix(ee.List[0], "main.sls:4:3: ID 'b' in SLS 'main': The following requisites were not found:") {
		t.Fatalf("message: %q", ee.List[0])
	}
}

func TestFailhardFromMinionConfig(t *testing.T) {
	reg := states.Builtin()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.sls"), []byte("a:\n  test.fail_without_changes\nb:\n  test.nop\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ec := &execmod.Context{Files: fileclient.NewLocal(dir), Opts: map[string]any{"failhard": true}}
	chunks, err := compile.Compile(ec, []string{"main"}, compile.Options{States: reg})
	if err != nil {
		t.Fatal(err)
	}
	res, err := engine.Run(context.Background(), chunks, engine.Options{States: reg, Exec: ec})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 {
		t.Fatalf("failhard from config should stop after a: %v", res)
	}
}

// chainSLS is n test states, each requiring the one before.
func chainSLS(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "s%d:\n  test.succeed_with_changes:\n    - comment: step %d\n", i, i)
		if i > 0 {
			fmt.Fprintf(&b, "    - require:\n      - test: s%d\n", i-1)
		}
		if i%10 == 0 && i > 0 {
			fmt.Fprintf(&b, "    - watch:\n      - test: s%d\n", i-5)
		}
	}
	return b.String()
}

func BenchmarkCompileRun400(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.sls"), []byte(chainSLS(400)), 0o644); err != nil {
		b.Fatal(err)
	}
	reg := states.Builtin()
	ec := &execmod.Context{Ctx: context.Background(), Files: fileclient.NewLocal(dir), Registry: execmod.Builtin(),
		Saltenv: "base", Grains: map[string]any{}, Pillar: map[string]any{}, Opts: map[string]any{}}
	b.ReportAllocs()
	for b.Loop() {
		chunks, err := compile.Compile(ec, []string{"main"}, compile.Options{States: reg})
		if err != nil {
			b.Fatal(err)
		}
		res, err := engine.Run(context.Background(), chunks, engine.Options{States: reg, Exec: ec})
		if err != nil || len(res) != 400 {
			b.Fatalf("run: %v (%d results)", err, len(res))
		}
	}
}

func BenchmarkRun400(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.sls"), []byte(chainSLS(400)), 0o644); err != nil {
		b.Fatal(err)
	}
	reg := states.Builtin()
	ec := &execmod.Context{Ctx: context.Background(), Files: fileclient.NewLocal(dir), Registry: execmod.Builtin(),
		Saltenv: "base", Grains: map[string]any{}, Pillar: map[string]any{}, Opts: map[string]any{}}
	chunks, err := compile.Compile(ec, []string{"main"}, compile.Options{States: reg})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		res, err := engine.Run(context.Background(), chunks, engine.Options{States: reg, Exec: ec})
		if err != nil || len(res) != 400 {
			b.Fatalf("run: %v (%d results)", err, len(res))
		}
	}
}

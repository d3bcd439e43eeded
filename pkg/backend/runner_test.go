package backend

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestExecRunner(t *testing.T) {
	ctx := context.Background()
	res, err := ExecRunner{}.Run(ctx, Cmd{Argv: []string{"sh", "-c", `echo "$BRINE_X"; echo oops >&2; exit 3`}, Env: map[string]string{"BRINE_X": "hello"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stdout != "hello\n" || res.Stderr != "oops\n" || res.ExitCode != 3 {
		t.Fatalf("got %+v", res)
	}
	err = Check(Cmd{Argv: []string{"sh", "-c", "x"}}, res)
	var ce *CommandError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "exit status 3: oops") {
		t.Fatalf("Check = %v", err)
	}
	if _, err := (ExecRunner{}).Run(ctx, Cmd{Argv: []string{"/nonexistent/brine-binary"}}); err == nil {
		t.Fatal("running a missing binary did not fail")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := (ExecRunner{}).Run(cctx, Cmd{Argv: []string{"sleep", "5"}}); err == nil {
		t.Fatal("a cancelled context did not fail the command")
	}
}

func TestMergeEnv(t *testing.T) {
	got := MergeEnv([]string{"A=1", "B=2", "PATH=/bin"}, map[string]string{"B": "3", "C": "4"})
	want := "A=1 PATH=/bin B=3 C=4"
	if strings.Join(got, " ") != want {
		t.Fatalf("MergeEnv = %q, want %q", got, want)
	}
}

func TestRecorded(t *testing.T) {
	r := NewRecorded().On("a b", Result{Stdout: "1"}).On("a b", Result{Stdout: "2"})
	for _, want := range []string{"1", "2", "2"} {
		res, err := r.Run(context.Background(), Cmd{Argv: []string{"a", "b"}})
		if err != nil || res.Stdout != want {
			t.Fatalf("got %q, %v; want %q", res.Stdout, err, want)
		}
	}
	if _, err := r.Run(context.Background(), Cmd{Argv: []string{"c"}}); err == nil || !strings.Contains(err.Error(), `"c"`) {
		t.Fatalf("unrecorded command: %v", err)
	}
	if len(r.Calls()) != 4 {
		t.Fatalf("Calls = %v", r.CommandLines())
	}
}

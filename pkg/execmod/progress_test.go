package execmod_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// sinkRec is a progress sink keeping what it was given, per stream.
type sinkRec struct {
	mu      sync.Mutex
	streams map[string]*strings.Builder
	onChunk func(stream, all string)
}

func (s *sinkRec) sink(stream string, chunk []byte) {
	s.mu.Lock()
	if s.streams == nil {
		s.streams = map[string]*strings.Builder{}
	}
	b := s.streams[stream]
	if b == nil {
		b = &strings.Builder{}
		s.streams[stream] = b
	}
	b.Write(chunk)
	all, on := b.String(), s.onChunk
	s.mu.Unlock()
	if on != nil {
		on(stream, all)
	}
}

func (s *sinkRec) get(stream string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.streams[stream]; b != nil {
		return b.String()
	}
	return ""
}

// TestProgressStreamsWhileRunning proves output reaches the sink before
// the command ends: the command waits for a file that only the sink
// creates, once it has seen the first line.
func TestProgressStreamsWhileRunning(t *testing.T) {
	c, _ := newCtx(t)
	gate := filepath.Join(t.TempDir(), "gate")
	var once sync.Once
	rec := &sinkRec{onChunk: func(stream, all string) {
		if stream == "stdout" && strings.Contains(all, "first\n") {
			once.Do(func() { _ = os.WriteFile(gate, nil, 0o600) })
		}
	}}
	c.Progress = rec.sink
	script := "echo first; i=0; while [ ! -e " + gate + " ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; " +
		"[ -e " + gate + " ] && echo second"
	got := call(t, c, "cmd.run", []any{script}, map[string]any{"python_shell": true})
	if got != "first\nsecond" {
		t.Fatalf("return %q: the gate was not opened while the command ran", got)
	}
	if s := rec.get("stdout"); s != "first\nsecond\n" {
		t.Fatalf("streamed stdout %q", s)
	}
}

func TestProgressStreamsAndReturn(t *testing.T) {
	c, _ := newCtx(t)
	rec := &sinkRec{}
	c.Progress = rec.sink
	out := call(t, c, "cmd.run_all", []any{"echo out; echo err >&2"}, map[string]any{"python_shell": true}).(map[string]any)
	if out["stdout"] != "out" || out["stderr"] != "err" {
		t.Fatalf("return changed by streaming: %v", out)
	}
	if rec.get("stdout") != "out\n" || rec.get("stderr") != "err\n" {
		t.Fatalf("streamed stdout %q stderr %q", rec.get("stdout"), rec.get("stderr"))
	}

	// cmd.run sends stderr into stdout, and streams it as stdout.
	rec = &sinkRec{}
	c.Progress = rec.sink
	if got := call(t, c, "cmd.run", []any{"echo a; echo b >&2"}, map[string]any{"python_shell": true}); got != "a\nb" {
		t.Fatalf("cmd.run = %q", got)
	}
	if rec.get("stdout") != "a\nb\n" || rec.get("stderr") != "" {
		t.Fatalf("cmd.run streamed stdout %q stderr %q", rec.get("stdout"), rec.get("stderr"))
	}

	// Output the caller asked to hide is not streamed either.
	rec = &sinkRec{}
	c.Progress = rec.sink
	call(t, c, "cmd.run", []any{"echo secret"}, map[string]any{"hide_output": true})
	if s := rec.get("stdout"); s != "" {
		t.Fatalf("hidden output streamed: %q", s)
	}

	// cmd.script streams too.
	dir := t.TempDir()
	sp := filepath.Join(dir, "s.sh")
	if err := os.WriteFile(sp, []byte("#!/bin/sh\necho from-script\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	rec = &sinkRec{}
	c.Progress = rec.sink
	out = call(t, c, "cmd.script", []any{sp}, nil).(map[string]any)
	if out["stdout"] != "from-script" || rec.get("stdout") != "from-script\n" {
		t.Fatalf("cmd.script return %v streamed %q", out, rec.get("stdout"))
	}
}

package svcmgr

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/brine-cm/brine/pkg/backend"
	"github.com/brine-cm/brine/pkg/backend/svcmgr/svctest"
)

func TestParseRunlevel(t *testing.T) {
	for in, want := range map[string]string{
		"N 2\n":     "2",
		"2 3\n":     "3",
		"unknown\n": "2",
		"":          "2",
		"N S":       "S",
	} {
		if got := ParseRunlevel(in); got != want {
			t.Errorf("ParseRunlevel(%q) = %q, want %q", in, got, want)
		}
	}
}

// sysvTree builds an init.d and rc?.d layout in a temp dir with real
// files and links, for the parts of the backend that only read them.
func sysvTree(t *testing.T) *SysV {
	t.Helper()
	root := t.TempDir()
	s := &SysV{run: backend.NewRecorded().On("runlevel", backend.Result{Stdout: "N 3\n"}),
		InitDir: filepath.Join(root, "init.d"), RCDir: root}
	for _, d := range []string{"init.d", "rc0.d", "rc1.d", "rc2.d", "rc3.d", "rcS.d"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(s.InitDir, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("ssh", 0o755)
	write("3proxy", 0o755)
	write("README", 0o644)
	write("skeleton", 0o755)
	write("notexec", 0o644)
	link := func(dir, name string) {
		if err := os.Symlink("../init.d/"+name[3:], filepath.Join(root, dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	link("rc3.d", "S01ssh")
	link("rc2.d", "S01ssh")
	link("rc0.d", "K01ssh")
	link("rc3.d", "K013proxy")
	link("rc3.d", "S01sshd-extra")
	return s
}

func TestSysVReadsTree(t *testing.T) {
	ctx := context.Background()
	s := sysvTree(t)
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"3proxy", "ssh"}; !reflect.DeepEqual(list, want) {
		t.Fatalf("List = %q, want %q", list, want)
	}
	for name, want := range map[string]bool{"ssh": true, "3proxy": true, "notexec": false, "nosuch": false} {
		got, err := s.Available(ctx, name)
		if err != nil || got != want {
			t.Errorf("Available(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
	for name, want := range map[string]bool{"ssh": true, "3proxy": false, "sshd": false} {
		got, err := s.Enabled(ctx, name)
		if err != nil || got != want {
			t.Errorf("Enabled(%s) in runlevel 3 = %v, %v; want %v", name, got, err, want)
		}
	}
	if _, err := s.Available(ctx, "../etc/passwd"); err == nil {
		t.Error("a name with a slash was accepted")
	}
}

func TestSysVEnableCommandLines(t *testing.T) {
	ctx := context.Background()
	s := sysvTree(t)
	rec := backend.NewRecorded().
		On("update-rc.d 3proxy enable", backend.Result{}).
		On("update-rc.d ssh disable", backend.Result{}).
		On("update-rc.d newsvc defaults", backend.Result{}).
		On("update-rc.d newsvc enable", backend.Result{})
	s.run = rec
	if err := s.Enable(ctx, "3proxy"); err != nil {
		t.Fatal(err)
	}
	if err := s.Disable(ctx, "ssh"); err != nil {
		t.Fatal(err)
	}
	if err := s.Enable(ctx, "newsvc"); err != nil {
		t.Fatal(err)
	}
	// A service without start links is already disabled: no command.
	if err := s.Disable(ctx, "newsvc"); err != nil {
		t.Fatal(err)
	}
	want := []string{"update-rc.d 3proxy enable", "update-rc.d ssh disable", "update-rc.d newsvc defaults", "update-rc.d newsvc enable"}
	if got := rec.CommandLines(); !reflect.DeepEqual(got, want) {
		t.Fatalf("commands:\n got %q\nwant %q", got, want)
	}
}

// TestSysVLive drives a real LSB init script through the `service`
// command and update-rc.d.
func TestSysVLive(t *testing.T) {
	d := svctest.Install(t)
	ctx := context.Background()
	s := NewSysV(backend.ExecRunner{})

	if ok, err := s.Available(ctx, d.Name); err != nil || !ok {
		t.Fatalf("Available = %v, %v", ok, err)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range list {
		found = found || n == d.Name
	}
	if !found {
		t.Fatalf("List does not include %s", d.Name)
	}
	if up, err := s.Status(ctx, d.Name); err != nil || up {
		t.Fatalf("Status before start = %v, %v", up, err)
	}
	if err := s.Start(ctx, d.Name); err != nil {
		t.Fatal(err)
	}
	pid1, ok := d.Pid()
	if !ok {
		t.Fatal("daemon not running after Start")
	}
	if up, err := s.Status(ctx, d.Name); err != nil || !up {
		t.Fatalf("Status after start = %v, %v", up, err)
	}
	if err := s.Restart(ctx, d.Name); err != nil {
		t.Fatal(err)
	}
	pid2, ok := d.Pid()
	if !ok || pid2 == pid1 {
		t.Fatalf("Restart: pid %d -> %d (running %v), want a new pid", pid1, pid2, ok)
	}
	if err := s.Reload(ctx, d.Name); err != nil {
		t.Fatal(err)
	}
	svctest.WaitFor(t, 10*time.Second, "the daemon to handle SIGHUP", func() bool { return d.Reloads() == 1 })
	if pid, _ := d.Pid(); pid != pid2 {
		t.Fatalf("Reload changed the pid %d -> %d", pid2, pid)
	}
	if err := s.FullRestart(ctx, d.Name); err != nil {
		t.Fatal(err)
	}
	if pid3, ok := d.Pid(); !ok || pid3 == pid2 {
		t.Fatalf("FullRestart: pid %d -> %d (running %v)", pid2, pid3, ok)
	}

	if on, err := s.Enabled(ctx, d.Name); err != nil || on {
		t.Fatalf("Enabled before enable = %v, %v", on, err)
	}
	if err := s.Enable(ctx, d.Name); err != nil {
		t.Fatal(err)
	}
	if on, err := s.Enabled(ctx, d.Name); err != nil || !on {
		t.Fatalf("Enabled after enable = %v, %v", on, err)
	}
	if len(d.StartLinks("2")) != 1 {
		t.Fatalf("no start link in rc2.d after Enable: %v", d.Links())
	}
	if err := s.Disable(ctx, d.Name); err != nil {
		t.Fatal(err)
	}
	if on, err := s.Enabled(ctx, d.Name); err != nil || on {
		t.Fatalf("Enabled after disable = %v, %v", on, err)
	}
	if len(d.StartLinks("2")) != 0 || len(d.Links()) == 0 {
		t.Fatalf("Disable should leave only kill links, have %v", d.Links())
	}

	if err := s.Stop(ctx, d.Name); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Pid(); ok {
		t.Fatal("daemon still running after Stop")
	}
	if up, err := s.Status(ctx, d.Name); err != nil || up {
		t.Fatalf("Status after stop = %v, %v", up, err)
	}
}

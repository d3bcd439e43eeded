package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
)

// TestLiveOutput proves `run --progress` streams a command's output while
// it runs: the command waits for a file between its lines, and the test
// creates that file only after the CLI has printed the line before it.
// Timing cannot pass this test; only streaming can. On the way it proves
// that another minion can neither publish on this minion's progress
// subject (the server refuses it) nor get its own output for this job
// forwarded (the master drops it: the job did not target it).
func TestLiveOutput(t *testing.T) {
	f := newFleet(t, "", []fleetMinion{{"web1", ""}, {"web2", ""}})
	m := f.m
	dir := t.TempDir()
	gate1, gate2 := filepath.Join(dir, "gate1"), filepath.Join(dir, "gate2")
	// Each wait gives up after a minute, so a broken stream fails the
	// test instead of hanging it.
	wait := func(p string) string {
		return `n=0; while [ ! -e ` + p + ` ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done; `
	}
	script := `for i in 1 2 3; do echo line$i; ` +
		`if [ $i = 1 ]; then ` + wait(gate1) + `fi; if [ $i = 2 ]; then ` + wait(gate2) + `fi; done; echo err-line >&2`

	cli := exec.Command(filepath.Join(binDir, "brine-master"), "--data-dir", m.dir, "run", "--progress", "-t", "120",
		"web1", "cmd.run", script)
	var stdout, stderr logBuf
	cli.Stdout, cli.Stderr = &stdout, &stderr
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cli.Wait() }()
	t.Cleanup(func() { _ = cli.Process.Kill(); <-done })

	waitFor(t, 60*time.Second, "web1: line1 on the CLI's stderr", func() bool {
		return strings.Contains(stderr.String(), "web1: line1\n")
	})
	if strings.Contains(stderr.String(), "line2") || strings.Contains(stdout.String(), "line1") {
		t.Fatalf("output past the gate before the gate was opened:\nstdout %q\nstderr %q", stdout.String(), stderr.String())
	}
	jid := regexp.MustCompile(`running job.* jid=(\d{20})`).FindStringSubmatch(f.minions["web1"].out.String())
	if jid == nil {
		t.Fatalf("no running job in web1's log:\n%s", f.minions["web1"].out.String())
	}

	// web2 is accepted and connected, with its own key.
	web2 := dialAs(t, m, f.minions["web2"].key(t), "web2", proto.Inbox("web2"))
	forged := proto.ProgressSubject("web1", jid[1])
	if err := web2.nc.Publish(forged, []byte("forged-as-web1\n")); err != nil {
		t.Fatal(err)
	}
	web2.expectViolation(t, "Publish", forged)
	own := progressMsg(proto.ProgressSubject("web2", jid[1]), "stdout", "not-targeted\n")
	if err := web2.nc.PublishMsg(own); err != nil {
		t.Fatal(err)
	}
	if err := web2.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	// The master saw web2's chunk before web1 can print line2, and chunks
	// reach the CLI in the order the master forwards them.
	if err := os.WriteFile(gate1, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "web1: line2 on the CLI's stderr", func() bool {
		return strings.Contains(stderr.String(), "web1: line2\n")
	})
	if s := stderr.String(); strings.Contains(s, "not-targeted") || strings.Contains(s, "forged") {
		t.Fatalf("output of an untargeted minion reached the operator:\n%s", s)
	}
	if err := os.WriteFile(gate2, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("run: %v\nstdout %q\nstderr %q", err, stdout.String(), stderr.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("run did not end:\nstdout %q\nstderr %q", stdout.String(), stderr.String())
	}
	// The final output is the return, as without --progress.
	out := stdout.String()
	if !strings.Contains(out, "web1:") || !strings.Contains(out, "line1") || !strings.Contains(out, "line3") ||
		!strings.Contains(out, "err-line") || strings.Contains(out, "web1: line") {
		t.Fatalf("final output %q", out)
	}
	if strings.Contains(stderr.String(), "not-targeted") {
		t.Fatalf("untargeted output on stderr: %q", stderr.String())
	}
}

// TestLiveOutputOff proves a run without --progress whose stdout is not a
// terminal prints no live output.
func TestLiveOutputOff(t *testing.T) {
	f := newFleet(t, "", []fleetMinion{{"web1", ""}})
	out, errs, code := f.m.cliCode(t, "run", "web1", "cmd.run", "echo quiet-line")
	if code != 0 || !strings.Contains(out, "quiet-line") {
		t.Fatalf("run: exit %d: %s%s", code, out, errs)
	}
	if strings.Contains(errs, "web1: quiet-line") {
		t.Fatalf("live output without --progress: %q", errs)
	}
}

func progressMsg(subject, stream, data string) *nats.Msg {
	msg := nats.NewMsg(subject)
	msg.Header.Set(proto.HeaderStream, stream)
	msg.Data = []byte(data)
	return msg
}

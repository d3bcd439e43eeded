package fleetsim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/brine-cm/brine/master/cli"
	"github.com/brine-cm/brine/proto"
)

// IdleResult is the resident memory of the real daemons at rest: what a
// host pays to run brine-minion, and what a master with nothing to do
// costs.
type IdleResult struct {
	MasterRSS          int64 `json:"idle_master_rss_bytes"`
	MasterRSSOneMinion int64 `json:"idle_master_one_minion_rss_bytes"`
	MinionRSS          int64 `json:"idle_minion_rss_bytes"`
	MinionPeakRSS      int64 `json:"idle_minion_peak_rss_bytes"`
}

// Idle starts a real `brine-master serve` and a real `brine-minion`
// daemon, accepts the minion's key, checks with test.ping that it
// answers, lets both settle for settle and reads their RSS.
func Idle(ctx context.Context, masterBin, minionBin string, settle time.Duration) (*IdleResult, error) {
	if settle <= 0 {
		settle = 3 * time.Second
	}
	dir, err := os.MkdirTemp("", "brine-idle-")
	if err != nil {
		return nil, fmt.Errorf("idle: %w", err)
	}
	defer os.RemoveAll(dir)
	ms, err := startChild(ctx, masterBin, filepath.Join(dir, "master"), 1, false, "")
	if err != nil {
		return nil, err
	}
	defer func() { _ = ms.stop() }()
	var res IdleResult
	if err := pause(ctx, settle); err != nil {
		return nil, err
	}
	st, err := ReadProc(ms.pid)
	if err != nil {
		return nil, err
	}
	res.MasterRSS = st.RSS

	logf, err := os.Create(filepath.Join(dir, "minion.log"))
	if err != nil {
		return nil, fmt.Errorf("idle: %w", err)
	}
	defer logf.Close()
	const id = "idle-minion.sim.example"
	cmd := exec.Command(minionBin, "--id", id, "--master", ms.url, "--data-dir", filepath.Join(dir, "minion"), "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("idle: start %s: %w", minionBin, err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	op, err := cli.Dial(cli.Global{DataDir: ms.dataDir, URL: ms.url})
	if err != nil {
		return nil, fmt.Errorf("idle: operator: %w", err)
	}
	defer op.Close()
	deadline := time.Now().Add(2 * time.Minute)
	accepted := false
	for {
		if time.Now().After(deadline) {
			tail, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("idle: minion did not answer test.ping within 2m: %s", lastLines(tail, 10))
		}
		if !accepted {
			var rep proto.KeyReply
			if err := op.Call(proto.VerbKeyAccept, proto.KeyCmd{V: proto.Version, Match: []string{id}}, &rep, time.Minute); err != nil {
				return nil, err
			}
			accepted = len(rep.Keys) == 1
		} else {
			var rep proto.RunReply
			req := proto.RunRequest{V: proto.Version, Target: proto.Target{Expr: id, Type: "glob"}, Fun: "test.ping", TimeoutSec: 2}
			if err := op.Call(proto.VerbRun, req, &rep, time.Minute); err != nil {
				return nil, err
			}
			if rep.Returns[id].Return == true {
				break
			}
		}
		if err := pause(ctx, 250*time.Millisecond); err != nil {
			return nil, err
		}
	}
	if err := pause(ctx, settle); err != nil {
		return nil, err
	}
	mst, err := ReadProc(cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	res.MinionRSS, res.MinionPeakRSS = mst.RSS, mst.PeakRSS
	if st, err = ReadProc(ms.pid); err != nil {
		return nil, err
	}
	res.MasterRSSOneMinion = st.RSS
	if res.MinionRSS == 0 || res.MasterRSS == 0 {
		return nil, errors.New("idle: no RSS read")
	}
	return &res, nil
}

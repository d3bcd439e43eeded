package fleetsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/brine-cm/brine/master"
)

// Master modes: where the master under measurement runs.
const (
	ModeInProcess = "in-process" // master.Run in the simulator's process
	ModeChild     = "child"      // `brine-master serve` started by the simulator
	ModeExternal  = "external"   // a master the operator started
)

// runningMaster is the master under measurement, however it runs.
type runningMaster struct {
	mode    string
	url     string
	dataDir string
	pid     int // 0 when unknown (external) or in-process
	stop    func() error
}

// maxMessage is the message limit of a master the simulator starts. A
// run's reply carries every return in one message: test.ping to 10,000
// minions is about 1.5 MB and a state.apply several times that, beyond
// the default 1 MiB, so the limit is raised to the most NATS allows.
const maxMessage = 64 << 20

// masterConfigYAML is the configuration the simulator gives a master it
// starts: loopback on a free port, a pending-key cap above the fleet
// size, the largest message limit, everything else default.
func masterConfigYAML(dir string, minions int, noSync bool) string {
	y := fmt.Sprintf("data_dir: %s\nlisten: 127.0.0.1:0\nlog_level: warn\nmax_pending: %d\nmax_request_bytes: %d\nfile_roots: [%s]\npillar_roots: [%s]\n",
		strconv.Quote(dir), minions+1000, maxMessage, strconv.Quote(filepath.Join(dir, "salt")), strconv.Quote(filepath.Join(dir, "pillar")))
	if noSync {
		y += "sync_always: false\n"
	}
	return y
}

// startInProcess runs master.Run in this process.
func startInProcess(ctx context.Context, dir string, minions int, noSync bool, log *slog.Logger) (*runningMaster, error) {
	cfg := master.Config{DataDir: dir, Listen: "127.0.0.1:0", MaxPending: minions + 1000, MaxRequestBytes: maxMessage, LogLevel: "warn",
		FileRoots: []string{filepath.Join(dir, "salt")}, PillarRoots: []string{filepath.Join(dir, "pillar")}}
	if noSync {
		f := false
		cfg.SyncAlways = &f
	}
	m, err := master.New(cfg, log)
	if err != nil {
		return nil, fmt.Errorf("fleetsim: %w", err)
	}
	mctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(mctx) }()
	select {
	case <-m.Ready():
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("fleetsim: master: %w", err)
	case <-ctx.Done():
		cancel()
		<-done
		return nil, ctx.Err()
	}
	return &runningMaster{mode: ModeInProcess, url: m.URL(), dataDir: dir, stop: func() error {
		cancel()
		return <-done
	}}, nil
}

// startChild runs `bin` serve with its own data dir, so the master's RSS
// and CPU are its own and not mixed with the simulator's.
func startChild(ctx context.Context, bin, dir string, minions int, noSync bool, pprof string) (*runningMaster, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("fleetsim: %w", err)
	}
	cfgFile := filepath.Join(dir, "master.yaml")
	if err := os.WriteFile(cfgFile, []byte(masterConfigYAML(dir, minions, noSync)), 0o600); err != nil {
		return nil, fmt.Errorf("fleetsim: %w", err)
	}
	logf, err := os.Create(filepath.Join(dir, "master.log"))
	if err != nil {
		return nil, fmt.Errorf("fleetsim: %w", err)
	}
	args := []string{"serve", "-c", cfgFile}
	if pprof != "" {
		args = append(args, "--pprof", pprof)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("fleetsim: start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	rm := &runningMaster{mode: ModeChild, dataDir: dir, pid: cmd.Process.Pid}
	rm.stop = func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			return errors.New("master did not stop within 30s; killed")
		}
	}
	urlFile := filepath.Join(dir, "master.url")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(urlFile); err == nil && len(bytes.TrimSpace(b)) > 0 {
			rm.url = strings.TrimSpace(string(b))
			return rm, nil
		}
		select {
		case err := <-exited:
			tail, _ := os.ReadFile(filepath.Join(dir, "master.log"))
			return nil, fmt.Errorf("fleetsim: master exited before it was ready (%v): %s", err, lastLines(tail, 10))
		case <-ctx.Done():
			_ = rm.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = rm.stop()
			return nil, errors.New("fleetsim: master not ready after 60s")
		}
	}
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ProcStats is what the kernel reports about one process's memory and
// CPU use.
type ProcStats struct {
	RSS     int64   // bytes resident now
	PeakRSS int64   // bytes resident at the peak (VmHWM)
	CPU     float64 // user + system seconds
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// ReadProc reads /proc/<pid>/status and /proc/<pid>/stat.
func ReadProc(pid int) (ProcStats, error) {
	var st ProcStats
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, fmt.Errorf("proc stats: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			st.RSS = n << 10
		case "VmHWM":
			st.PeakRSS = n << 10
		}
	}
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, fmt.Errorf("proc stats: %w", err)
	}
	// The command name (field 2) may hold spaces; count from after it.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) > 12 {
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		st.CPU = float64(ut+stime) / clockTicks
	}
	return st, nil
}

// selfCPU is this process's user + system CPU seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// Package fleetsim measures a brine master under a fleet: it starts (or
// uses) a real master, runs thousands of simulated minions in one
// process, each a real minion.Minion with its own nkey, its own TLS
// connection and the real key request, acceptance, envelope, signature
// and replay checks, and times what an operator sees: how long the fleet
// takes to connect and be accepted, how fast test.ping to everyone
// returns, a grain-targeted cmd.run, a small state.apply, and what the
// master costs in memory and CPU meanwhile. Only the modules are
// replaced (test.*, an echoing cmd.run, state modules that change
// nothing), so nothing on the host is touched.
package fleetsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/brine-cm/brine/pkg/proctune"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brine-cm/brine/master/cli"
	"github.com/brine-cm/brine/minion"
	"github.com/brine-cm/brine/proto"
)

// Options choose the fleet size and which master to measure.
type Options struct {
	// Minions is the fleet size.
	Minions int
	// Rounds is how many test.ping (and cmd.run) rounds to time.
	Rounds int
	// MasterURL and DataDir select an existing master (operator
	// credentials are read from DataDir). Empty: start one.
	MasterURL string
	DataDir   string
	// MasterBin, when set and no MasterURL is given, is a brine-master
	// binary run as `serve` in a child process so its RSS and CPU are its
	// own; empty runs the master in this process.
	MasterBin string
	// MasterPprof is passed to a child master as --pprof.
	MasterPprof string
	// NoSync starts the master with sync_always false, to measure what
	// fsyncing every JetStream write costs.
	NoSync bool
	// WorkDir holds the data dir of a master the simulator starts
	// (default: a new temp dir, removed afterwards unless Keep).
	WorkDir string
	Keep    bool
	// StartRate is how many minions start per second (default 2000):
	// a fleet boots spread out, and a burst beyond the listen backlog
	// only measures SYN retries.
	StartRate int
	// JobTimeout bounds each job's wait for returns (default 60s).
	JobTimeout time.Duration
	// Sustain is how long the jobs-per-second phase runs (default 10s).
	Sustain time.Duration
	// Prefix starts every simulated minion id (default "fleet-").
	Prefix string
	// Log receives the master's and the minions' logs (nil: discarded).
	Log *slog.Logger
	// Progress, when set, gets one line per phase as it finishes.
	Progress io.Writer
}

// Result holds every figure of one run; the JSON names are what
// `brine-bench --out json` prints.
type Result struct {
	Minions        int     `json:"minions"`
	Master         string  `json:"master"`
	SyncAlways     bool    `json:"sync_always"`
	Cores          int     `json:"cores"`
	ConnectS       float64 `json:"connect_s"`
	AcceptS        float64 `json:"accept_s"`
	ReadyS         float64 `json:"ready_s"`
	Accepted       int     `json:"accepted"`
	Rounds         int     `json:"rounds"`
	PingP50S       float64 `json:"ping_p50_s"`
	PingP90S       float64 `json:"ping_p90_s"`
	PingP99S       float64 `json:"ping_p99_s"`
	PingMaxS       float64 `json:"ping_max_s"`
	PingMissing    int     `json:"ping_missing"`
	PingRunP50S    float64 `json:"ping_minion_p50_s"`
	PingRunP99S    float64 `json:"ping_minion_p99_s"`
	CmdTargets     int     `json:"cmd_targets"`
	CmdP50S        float64 `json:"cmd_p50_s"`
	CmdP99S        float64 `json:"cmd_p99_s"`
	CmdMissing     int     `json:"cmd_missing"`
	StateApplyS    float64 `json:"state_apply_s"`
	StateMissing   int     `json:"state_missing"`
	StateFailed    int     `json:"state_failed"`
	StateFailure   string  `json:"state_failure,omitempty"`
	JobsPerS       float64 `json:"jobs_per_s"`
	MasterRSS      int64   `json:"master_rss_bytes"`
	MasterRSSReady int64   `json:"master_rss_connected_bytes"`
	MasterRSSIdle  int64   `json:"master_rss_idle_bytes"`
	MasterPeakRSS  int64   `json:"master_peak_rss_bytes"`
	MasterCPUS     float64 `json:"master_cpu_s"`
	SimRSS         int64   `json:"sim_rss_bytes"`
	SimCPUS        float64 `json:"sim_cpu_s"`
	MinionFailures int     `json:"minion_failures"`
	Note           string  `json:"note,omitempty"`
}

func (o *Options) defaults() error {
	if o.Minions <= 0 {
		return errors.New("fleetsim: --minions must be at least 1")
	}
	if o.Rounds <= 0 {
		o.Rounds = 20
	}
	if o.StartRate <= 0 {
		o.StartRate = 2000
	}
	if o.JobTimeout <= 0 {
		o.JobTimeout = 60 * time.Second
	}
	if o.Sustain <= 0 {
		o.Sustain = 10 * time.Second
	}
	if o.Prefix == "" {
		o.Prefix = "fleet-"
	}
	if (o.MasterURL == "") != (o.DataDir == "") {
		return errors.New("fleetsim: --master and --data-dir go together")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

type sim struct {
	o      Options
	res    Result
	ms     *runningMaster
	op     *cli.Client
	target string

	minions  []*minion.Minion
	failures atomic.Int64
	wg       sync.WaitGroup

	// minion-side timing of test.ping: when a round started and when each
	// minion ran the function, relative to it.
	roundStart atomic.Int64
	pingMu     sync.Mutex
	pingRuns   []float64
}

// Run starts or attaches to the master, runs the fleet through every
// phase and returns the figures. ctx cancels it.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	limit, _ := proctune.RaiseNoFile()
	need := uint64(o.Minions) + 256
	if o.MasterURL == "" && o.MasterBin == "" {
		need += uint64(o.Minions) // the in-process master holds the other end of each connection
	}
	if limit > 0 && need > limit {
		return nil, fmt.Errorf("fleetsim: %d minions need about %d open files here, the limit is %d (run the master as a child process, or raise ulimit -n)",
			o.Minions, need, limit)
	}
	s := &sim{o: o, target: o.Prefix + "*"}
	s.res.Minions, s.res.Rounds, s.res.Cores = o.Minions, o.Rounds, runtime.NumCPU()
	s.res.SyncAlways = !o.NoSync
	if err := s.startMaster(ctx); err != nil {
		return nil, err
	}
	defer s.stopMaster()
	op, err := cli.Dial(cli.Global{DataDir: s.ms.dataDir, URL: s.ms.url})
	if err != nil {
		return nil, fmt.Errorf("fleetsim: operator: %w", err)
	}
	s.op = op
	defer op.Close()

	mctx, stopMinions := context.WithCancel(context.Background())
	defer func() {
		stopMinions()
		s.wg.Wait()
	}()
	steps := []struct {
		name string
		fn   func(context.Context, context.Context) error
	}{
		{"connect", s.connect}, {"accept", s.accept}, {"ping", s.ping}, {"cmd", s.cmd},
		{"state", s.state}, {"sustain", s.sustain},
	}
	for _, st := range steps {
		t0 := time.Now()
		if err := st.fn(ctx, mctx); err != nil {
			return &s.res, fmt.Errorf("fleetsim: %s: %w", st.name, err)
		}
		s.progress("%-8s done in %.1f s", st.name, time.Since(t0).Seconds())
	}
	s.measure()
	return &s.res, nil
}

func (s *sim) progress(format string, args ...any) {
	if s.o.Progress != nil {
		fmt.Fprintf(s.o.Progress, "fleetsim: "+format+"\n", args...)
	}
}

func (s *sim) startMaster(ctx context.Context) error {
	if s.o.MasterURL != "" {
		s.ms = &runningMaster{mode: ModeExternal, url: s.o.MasterURL, dataDir: s.o.DataDir, stop: func() error { return nil }}
		s.res.Master = ModeExternal
		return nil
	}
	dir := s.o.WorkDir
	if dir == "" {
		d, err := os.MkdirTemp("", "brine-fleet-")
		if err != nil {
			return fmt.Errorf("fleetsim: %w", err)
		}
		dir = d
	}
	var err error
	if s.o.MasterBin != "" {
		s.ms, err = startChild(ctx, s.o.MasterBin, dir, s.o.Minions, s.o.NoSync, s.o.MasterPprof)
	} else {
		s.ms, err = startInProcess(ctx, dir, s.o.Minions, s.o.NoSync, s.o.Log)
	}
	if err != nil {
		if !s.o.Keep && s.o.WorkDir == "" {
			_ = os.RemoveAll(dir)
		}
		return err
	}
	if !s.o.Keep && s.o.WorkDir == "" {
		stop := s.ms.stop
		s.ms.stop = func() error {
			err := stop()
			_ = os.RemoveAll(dir)
			return err
		}
	}
	s.res.Master = s.ms.mode
	return nil
}

func (s *sim) stopMaster() {
	if err := s.ms.stop(); err != nil {
		s.o.Log.Warn("stop master", "err", err)
	}
}

// id names the i-th simulated minion.
func (s *sim) id(i int) string { return fmt.Sprintf("%s%05d.sim.example", s.o.Prefix, i) }

// connect starts every minion and waits until the master holds a key
// request from each.
func (s *sim) connect(ctx, mctx context.Context) error {
	reg := newRegistry(s.onPing)
	files := memFiles(Tree)
	t0 := time.Now()
	tick := time.Second / time.Duration(s.o.StartRate)
	for i := 0; i < s.o.Minions; i++ {
		id := s.id(i)
		g := Grains(id, i)
		m, err := minion.New(minion.Config{ID: id, Masters: []string{s.ms.url}, Ephemeral: true, Grains: g,
			Opts: map[string]any{"id": id, "grains": g}, Registry: reg, Files: files, Workers: 2}, s.o.Log)
		if err != nil {
			return err
		}
		s.minions = append(s.minions, m)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := m.Run(mctx); err != nil {
				s.failures.Add(1)
				s.o.Log.Error("simulated minion failed", "id", id, "err", err)
			}
		}()
		if next := t0.Add(time.Duration(i+1) * tick); time.Until(next) > 0 {
			time.Sleep(time.Until(next))
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	deadline := time.Now().Add(2*time.Minute + time.Duration(s.o.Minions)*10*time.Millisecond)
	for {
		var rep proto.KeyReply
		if err := s.op.Call(proto.VerbKeyList, proto.KeyCmd{V: proto.Version, Match: []string{s.target}}, &rep, time.Minute); err != nil {
			return err
		}
		if len(rep.Keys) >= s.o.Minions {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d key requests after %s", len(rep.Keys), s.o.Minions, time.Since(t0).Round(time.Second))
		}
		// Each poll lists every key: poll less often for a larger fleet so
		// the measurement does not load the master it measures.
		if err := pause(ctx, 200*time.Millisecond+time.Duration(s.o.Minions)*50*time.Microsecond); err != nil {
			return err
		}
	}
	s.res.ConnectS = time.Since(t0).Seconds()
	return nil
}

// accept accepts every simulated key through the operator API, as
// `brine-master key accept 'fleet-*'` does, then waits until each minion
// has reconnected with its accepted permissions and said hello.
func (s *sim) accept(ctx, _ context.Context) error {
	t0 := time.Now()
	var rep proto.KeyReply
	if err := s.op.Call(proto.VerbKeyAccept, proto.KeyCmd{V: proto.Version, Match: []string{s.target}}, &rep, 30*time.Minute); err != nil {
		return err
	}
	s.res.AcceptS = time.Since(t0).Seconds()
	s.res.Accepted = len(rep.Keys)
	deadline := time.After(2*time.Minute + time.Duration(s.o.Minions)*10*time.Millisecond)
	for i, m := range s.minions {
		select {
		case <-m.Ready():
		case <-deadline:
			n := 0
			for _, m := range s.minions[i:] {
				select {
				case <-m.Ready():
				default:
					n++
				}
			}
			return fmt.Errorf("%d minions not receiving jobs after %s", n, time.Since(t0).Round(time.Second))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.res.ReadyS = time.Since(t0).Seconds()
	s.res.MasterRSSReady = s.masterRSS()
	s.res.MasterRSSIdle = s.settledRSS(ctx)
	return nil
}

// settledRSS is the master's RSS once the fleet has been connected and
// idle for a while: the master gives back the memory of a burst after
// 10 s without work (at most once every 20 s), so this watches it for
// 25 to 45 s, until it stops falling (-1 when the master is not a child
// process of its own).
func (s *sim) settledRSS(ctx context.Context) int64 {
	rss := s.masterRSS()
	if rss < 0 || s.ms.mode != ModeChild {
		return -1
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	low, flat := rss, 0
	for i := 0; i < 45 && (i < 25 || flat < 5); i++ {
		select {
		case <-ctx.Done():
			return low
		case <-t.C:
		}
		if r := s.masterRSS(); r < low*99/100 {
			low, flat = r, 0
		} else {
			flat++
		}
	}
	return low
}

// masterRSS is the master's RSS now (the whole process when in-process,
// -1 when external).
func (s *sim) masterRSS() int64 {
	pid := s.ms.pid
	switch s.ms.mode {
	case ModeExternal:
		return -1
	case ModeInProcess:
		pid = os.Getpid()
	}
	st, err := ReadProc(pid)
	if err != nil {
		return -1
	}
	return st.RSS
}

func (s *sim) onPing() {
	if start := s.roundStart.Load(); start != 0 {
		d := float64(time.Now().UnixNano()-start) / 1e9
		s.pingMu.Lock()
		s.pingRuns = append(s.pingRuns, d)
		s.pingMu.Unlock()
	}
}

// job runs one function on a target and times the whole call.
func (s *sim) job(tgt proto.Target, fun string, args ...any) (proto.RunReply, float64, error) {
	var rep proto.RunReply
	req := proto.RunRequest{V: proto.Version, Target: tgt, Fun: fun, Args: args, TimeoutSec: s.o.JobTimeout.Seconds()}
	t0 := time.Now()
	err := s.op.Call(proto.VerbRun, req, &rep, s.o.JobTimeout+time.Minute)
	return rep, time.Since(t0).Seconds(), err
}

func (s *sim) ping(ctx, _ context.Context) error {
	var times []float64
	for r := 0; r < s.o.Rounds; r++ {
		s.roundStart.Store(time.Now().UnixNano())
		rep, d, err := s.job(proto.Target{Expr: s.target, Type: "glob"}, "test.ping")
		s.roundStart.Store(0)
		if err != nil {
			return err
		}
		times = append(times, d)
		s.res.PingMissing += len(rep.Missing)
		for _, ret := range rep.Returns {
			if ret.Return != true {
				s.res.PingMissing++
			}
		}
		if got := len(rep.Returns) + len(rep.Missing); got != s.o.Minions {
			return fmt.Errorf("round %d targeted %d minions, not %d", r, got, s.o.Minions)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	s.res.PingP50S, s.res.PingP90S, s.res.PingP99S = pct(times, 50), pct(times, 90), pct(times, 99)
	s.res.PingMaxS = pct(times, 100)
	s.pingMu.Lock()
	s.res.PingRunP50S, s.res.PingRunP99S = pct(s.pingRuns, 50), pct(s.pingRuns, 99)
	s.pingMu.Unlock()
	return nil
}

// cmd runs cmd.run on the RedHat family, a third of the fleet.
func (s *sim) cmd(ctx, _ context.Context) error {
	var times []float64
	rounds := max(3, s.o.Rounds/2)
	for r := 0; r < rounds; r++ {
		rep, d, err := s.job(proto.Target{Expr: "os_family:RedHat", Type: "grain"}, "cmd.run", "echo fleet")
		if err != nil {
			return err
		}
		times = append(times, d)
		s.res.CmdTargets = len(rep.Returns) + len(rep.Missing)
		s.res.CmdMissing += len(rep.Missing)
		for _, ret := range rep.Returns {
			if ret.Return != "fleet" {
				s.res.CmdMissing++
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	s.res.CmdP50S, s.res.CmdP99S = pct(times, 50), pct(times, 99)
	return nil
}

// state applies the highstate (top.sls -> fleet) to every minion.
func (s *sim) state(context.Context, context.Context) error {
	rep, d, err := s.job(proto.Target{Expr: s.target, Type: "glob"}, "state.apply")
	if err != nil {
		return err
	}
	s.res.StateApplyS = d
	s.res.StateMissing = len(rep.Missing)
	for _, ret := range rep.Returns {
		if !stateOK(ret.Return) {
			s.res.StateFailed++
			if s.res.StateFailure == "" {
				b, _ := json.Marshal(ret.Return)
				s.res.StateFailure = string(b[:min(len(b), 400)])
			}
		}
	}
	return nil
}

// stateOK reports whether a state.apply return holds the whole tree
// (six states), every one with result true.
func stateOK(v any) bool {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 6 {
		return false
	}
	for _, st := range m {
		r, ok := st.(map[string]any)
		if !ok || r["result"] != true {
			return false
		}
	}
	return true
}

// sustain keeps several test.ping jobs to the whole fleet in flight for
// the Sustain period and counts returns per second.
func (s *sim) sustain(ctx, _ context.Context) error {
	const inflight = 4
	end := time.Now().Add(s.o.Sustain)
	var returns atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < inflight; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && ctx.Err() == nil {
				rep, _, err := s.job(proto.Target{Expr: s.target, Type: "glob"}, "test.ping")
				if err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					return
				}
				returns.Add(int64(len(rep.Returns)))
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	s.res.JobsPerS = float64(returns.Load()) / time.Since(t0).Seconds()
	return nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// measure reads the master's and the simulator's memory and CPU.
func (s *sim) measure() {
	self, _ := ReadProc(os.Getpid())
	s.res.SimRSS, s.res.SimCPUS = self.RSS, selfCPU()
	s.res.MinionFailures = int(s.failures.Load())
	switch s.ms.mode {
	case ModeChild:
		if st, err := ReadProc(s.ms.pid); err == nil {
			s.res.MasterRSS, s.res.MasterPeakRSS, s.res.MasterCPUS = st.RSS, st.PeakRSS, st.CPU
		}
	case ModeInProcess:
		s.res.MasterRSS, s.res.MasterPeakRSS, s.res.MasterCPUS = self.RSS, self.PeakRSS, s.res.SimCPUS
		s.res.Note = "master ran in the simulator's process: master RSS and CPU include every simulated minion; " +
			"put brine-master next to brine-bench to measure the master alone"
	case ModeExternal:
		s.res.MasterRSS, s.res.MasterPeakRSS, s.res.MasterCPUS = -1, -1, -1
		s.res.Note = "external master: its RSS and CPU are not visible from here (-1)"
	}
}

// pct is the p-th percentile (nearest rank) of xs.
func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

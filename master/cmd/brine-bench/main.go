// Command brine-bench measures a brine master under a simulated fleet
// (see package fleetsim) and the idle memory of the real daemons.
//
//	brine-bench --minions 10000 [--rounds 20] [--out json]
//	brine-bench --minions 1000 --master tls://host:4222 --data-dir /var/lib/brine/master
//	brine-bench --idle
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/brine-cm/brine/pkg/proctune"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/brine-cm/brine/master/fleetsim"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("brine-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o fleetsim.Options
	fs.IntVar(&o.Minions, "minions", 0, "number of simulated minions")
	fs.IntVar(&o.Rounds, "rounds", 20, "test.ping rounds to time")
	fs.StringVar(&o.MasterURL, "master", "", "URL of an existing master (with --data-dir)")
	fs.StringVar(&o.DataDir, "data-dir", "", "data dir of the existing master (operator credentials)")
	masterBin := fs.String("master-bin", "", "brine-master binary to run as a child process (default: next to brine-bench)")
	inProcess := fs.Bool("in-process", false, "run the master inside this process instead of a child brine-master")
	minionBin := fs.String("minion-bin", "", "brine-minion binary for --idle (default: next to brine-bench)")
	fs.StringVar(&o.MasterPprof, "master-pprof", "", "pass --pprof ADDR to the child master")
	fs.BoolVar(&o.NoSync, "no-sync", false, "start the master with sync_always: false (measures the cost of fsync per write)")
	pprofAddr := fs.String("pprof", "", "serve this process's Go profiler on a loopback HOST:PORT")
	fs.IntVar(&o.StartRate, "start-rate", 2000, "minions started per second")
	fs.DurationVar(&o.JobTimeout, "job-timeout", 60*time.Second, "how long each job waits for returns")
	fs.DurationVar(&o.Sustain, "sustain", 10*time.Second, "length of the jobs-per-second phase")
	fs.StringVar(&o.WorkDir, "work-dir", "", "data dir for the master it starts (default: a temp dir)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temp dir")
	out := fs.String("out", "table", "table or json")
	idle := fs.Bool("idle", false, "measure the idle RSS of a real brine-master and a real brine-minion instead")
	verbose := fs.Bool("v", false, "log the master's and the minions' warnings to stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out != "table" && *out != "json" {
		fmt.Fprintln(stderr, "brine-bench: --out must be table or json")
		return 2
	}
	if *verbose {
		o.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if _, err := proctune.RaiseNoFile(); err != nil {
		fmt.Fprintln(stderr, "brine-bench:", err)
	}
	if *pprofAddr != "" {
		if _, err := proctune.ServePprof(*pprofAddr); err != nil {
			fmt.Fprintln(stderr, "brine-bench:", err)
			return 2
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	if *idle {
		mb, nb := sibling(*masterBin, "brine-master"), sibling(*minionBin, "brine-minion")
		if mb == "" || nb == "" {
			fmt.Fprintln(stderr, "brine-bench: --idle needs brine-master and brine-minion next to brine-bench (or --master-bin/--minion-bin)")
			return 2
		}
		res, err := fleetsim.Idle(ctx, mb, nb, 3*time.Second)
		if err != nil {
			fmt.Fprintln(stderr, "brine-bench:", err)
			return 1
		}
		if *out == "json" {
			return printJSON(stdout, stderr, res)
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "idle brine-master serve, no minions\t%s\n", mib(res.MasterRSS))
		fmt.Fprintf(tw, "idle brine-master serve, one minion\t%s\n", mib(res.MasterRSSOneMinion))
		fmt.Fprintf(tw, "idle brine-minion, accepted and connected\t%s (peak %s)\n", mib(res.MinionRSS), mib(res.MinionPeakRSS))
		tw.Flush()
		return 0
	}

	if o.Minions <= 0 {
		fmt.Fprintln(stderr, "usage: brine-bench --minions N [--rounds 20] [--out json] [--master URL --data-dir DIR] | --idle")
		return 2
	}
	if o.MasterURL == "" && !*inProcess {
		o.MasterBin = sibling(*masterBin, "brine-master")
	}
	if *out == "table" {
		o.Progress = stderr
	}
	res, err := fleetsim.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "brine-bench:", err)
		if res != nil && *out == "json" {
			printJSON(stdout, stderr, res)
		}
		return 1
	}
	if *out == "json" {
		return printJSON(stdout, stderr, res)
	}
	printTable(stdout, res)
	return 0
}

// sibling returns explicit if set, else name in the directory of this
// executable when it exists there, else "".
func sibling(explicit, name string) string {
	if explicit != "" {
		return explicit
	}
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	p := filepath.Join(filepath.Dir(exe), name)
	if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return p
	}
	return ""
}

func printJSON(stdout, stderr io.Writer, v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintln(stderr, "brine-bench:", err)
		return 1
	}
	fmt.Fprintln(stdout, string(b))
	return 0
}

func mib(b int64) string {
	if b < 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

func printTable(w io.Writer, r *fleetsim.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	row("minions", "%d (master: %s, sync_always %v, %d cores)", r.Minions, r.Master, r.SyncAlways, r.Cores)
	row("connect + key requests", "%.2f s", r.ConnectS)
	row("accept all (operator API)", "%.2f s, %d accepted; all receiving jobs after %.2f s", r.AcceptS, r.Accepted, r.ReadyS)
	row("test.ping to all", "p50 %.3f s  p90 %.3f s  p99 %.3f s  max %.3f s  (%d rounds)", r.PingP50S, r.PingP90S, r.PingP99S, r.PingMaxS, r.Rounds)
	row("  run on minion after request", "p50 %.3f s  p99 %.3f s", r.PingRunP50S, r.PingRunP99S)
	row("  missing returns", "%d", r.PingMissing)
	row("cmd.run -G os_family:RedHat", "%d minions, p50 %.3f s  p99 %.3f s, %d missing", r.CmdTargets, r.CmdP50S, r.CmdP99S, r.CmdMissing)
	row("state.apply (6 states) to all", "%.2f s, %d missing, %d failed", r.StateApplyS, r.StateMissing, r.StateFailed)
	if r.StateFailure != "" {
		row("  first failure", "%s", r.StateFailure)
	}
	row("jobs per second (4 in flight)", "%.0f", r.JobsPerS)
	row("master RSS", "%s with the fleet just connected, %s connected and idle, %s at the end, peak %s",
		mib(r.MasterRSSReady), mib(r.MasterRSSIdle), mib(r.MasterRSS), mib(r.MasterPeakRSS))
	row("master CPU", "%.1f s", r.MasterCPUS)
	row("simulator RSS / CPU", "%s / %.1f s", mib(r.SimRSS), r.SimCPUS)
	if r.MinionFailures > 0 {
		row("simulated minions failed", "%d", r.MinionFailures)
	}
	tw.Flush()
	if r.Note != "" {
		fmt.Fprintln(w, "note:", r.Note)
	}
}

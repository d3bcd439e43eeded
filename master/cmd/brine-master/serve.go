package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/brine-cm/brine/pkg/proctune"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/brine-cm/brine/master"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// serve runs the master daemon until SIGTERM or SIGINT.
func serve(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("brine-master serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: brine-master serve [--config FILE] [--data-dir DIR] [--listen HOST:PORT] [--file-root DIR]... [--pillar-root DIR]... [--log-level LEVEL]")
		fmt.Fprintln(fs.Output(), "Runs the master: embedded NATS with JetStream, TLS, the key registry and the job dispatcher.")
		fmt.Fprintln(fs.Output(), "Flags override the config file (YAML); tls_cert, tls_key, autosign_file, autosign_grains,\nmax_request_bytes, pending_rate_per_ip, acl and the other options are set there.")
		fs.PrintDefaults()
	}
	cfgFile := fs.String("config", master.DefaultConfigFile, "config file (YAML)")
	fs.StringVar(cfgFile, "c", master.DefaultConfigFile, "config file (YAML)")
	dataDir := fs.String("data-dir", "", "data directory (default /var/lib/brine/master)")
	listen := fs.String("listen", "", "listen address HOST:PORT (default 0.0.0.0:4222)")
	logLevel := fs.String("log-level", "", "debug, info, warning (or warn) or error")
	pprofAddr := fs.String("pprof", "", "serve the Go profiler on this loopback HOST:PORT (or BRINE_PPROF)")
	auditRecover := fs.Bool("audit-recover", false, "start even if the audit log ends with a torn line, recording the damage in a new segment")
	var fileRoots, pillarRoots multiFlag
	fs.Var(&fileRoots, "file-root", "state tree root (repeatable)")
	fs.Var(&pillarRoots, "pillar-root", "pillar tree root (repeatable)")
	var flagArgs []string
	for _, a := range args {
		if a != "serve" {
			flagArgs = append(flagArgs, a)
		}
	}
	if err := fs.Parse(flagArgs); errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		return 2
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "config" || f.Name == "c" {
			explicit = true
		}
	})
	cfg, err := master.LoadConfig(*cfgFile, explicit)
	if err != nil {
		fmt.Fprintln(stderr, "brine-master:", err)
		return 1
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if *logLevel != "" {
		cfg.LogLevel = *logLevel
	}
	if *auditRecover {
		cfg.AuditRecover = true
	}
	if len(fileRoots) > 0 {
		cfg.FileRoots = fileRoots
	}
	if len(pillarRoots) > 0 {
		cfg.PillarRoots = pillarRoots
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.Replace(orDefault(cfg.LogLevel, "info"), "warning", "warn", 1))); err != nil {
		fmt.Fprintln(stderr, "brine-master: log level:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if limit, err := proctune.RaiseNoFile(); err != nil {
		log.Warn("open files limit", "err", err)
	} else {
		log.Debug("open files limit", "limit", limit)
	}
	if *pprofAddr == "" {
		*pprofAddr = os.Getenv("BRINE_PPROF")
	}
	if *pprofAddr != "" {
		at, err := proctune.ServePprof(*pprofAddr)
		if err != nil {
			fmt.Fprintln(stderr, "brine-master:", err)
			return 2
		}
		log.Info("pprof listening", "addr", at)
	}
	m, err := master.New(cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "brine-master:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// After a fleet-wide burst (key storm, a job to every minion), give
	// the memory back once 10 s pass with under 16 MiB allocated.
	go proctune.ReleaseWhenIdle(ctx, 10*time.Second, 16<<20)
	if err := m.Run(ctx); err != nil {
		log.Error("master failed", "err", err)
		return 1
	}
	return 0
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/brine-cm/brine/minion"
	"github.com/brine-cm/brine/pkg/config"
	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/grains"
	"github.com/brine-cm/brine/states"
	"github.com/brine-cm/brine/states/highstate"
)

const daemonUsage = `usage: brine-minion [--id ID] [--master URL] [--data-dir DIR] [--config FILE]
                    [--master-finger FP] [--master-tls-finger FP] [--master-ca FILE] [--log-level L]
Runs the minion daemon: creates its key on first start, waits for the master
to accept it, then runs the master-signed jobs addressed to it.
`

// runDaemon runs the minion daemon until SIGTERM or SIGINT.
func runDaemon(args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("brine-minion", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), daemonUsage)
		fs.PrintDefaults()
	}
	cfgFile := fs.String("config", config.DefaultMinionPath, "config file (YAML)")
	id := fs.String("id", "", "minion id (default: config id, else the FQDN)")
	masterURL := fs.String("master", "", "master URL(s), comma separated (tls://host:port)")
	dataDir := fs.String("data-dir", "", "data directory (key, master pin, replay cache)")
	finger := fs.String("master-finger", "", "expected fingerprint of the master's signing key")
	tlsFinger := fs.String("master-tls-finger", "", "expected fingerprint of the master's TLS certificate")
	ca := fs.String("master-ca", "", "CA file to verify the master's certificate with, instead of pinning")
	logLevel := fs.String("log-level", "", "debug, info, warning or error")
	auditRecover := fs.Bool("audit-recover", false, "start even if the audit log ends with a torn line, recording the damage in a new segment")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		return 2
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })
	cfg, err := config.LoadMinion(*cfgFile, explicit)
	if err != nil {
		fmt.Fprintln(stderr, "brine-minion:", err)
		return 1
	}
	lvl := strings.Replace(daemonFirst(*logLevel, cfg.LogLevel, "info"), "warning", "warn", 1)
	var level slog.Level
	if err := level.UnmarshalText([]byte(lvl)); err != nil {
		fmt.Fprintln(stderr, "brine-minion: log level:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	mid := daemonFirst(*id, cfg.ID)
	static := map[string]any{}
	for k, v := range cfg.Grains {
		static[k] = v
	}
	if mid != "" {
		static["id"] = mid
	}
	g := grains.Collect(ctx, static)
	if mid == "" {
		mid, _ = g["fqdn"].(string)
		if mid == "" {
			mid, _ = os.Hostname()
		}
		g["id"] = mid
	}
	cfg.Set("id", mid)
	masters := cfg.Master
	if *masterURL != "" {
		masters = strings.Split(*masterURL, ",")
	}
	for i, u := range masters {
		masters[i] = masterURLOf(strings.TrimSpace(u), cfg.MasterPort)
	}
	dir := daemonFirst(*dataDir, cfg.DataDir)
	if *tlsFinger == "" {
		*tlsFinger, _ = cfg.Raw["master_tls_finger"].(string)
	}
	if *ca == "" {
		*ca, _ = cfg.Raw["master_ca"].(string)
	}
	reg := execmod.Builtin()
	highstate.Register(reg, states.Builtin())
	opts := cfg.Opts()
	opts["grains"] = g
	m, err := minion.New(minion.Config{
		ID: mid, Masters: masters, DataDir: dir,
		MasterFinger: daemonFirst(*finger, cfg.MasterFinger), MasterTLSFinger: *tlsFinger, MasterCA: *ca,
		Grains: g, Opts: opts, Registry: reg, AuditRecover: *auditRecover,
	}, log)
	if err != nil {
		fmt.Fprintln(stderr, "brine-minion:", err)
		return 1
	}
	if err := m.Run(ctx); err != nil {
		log.Error("minion failed", "err", err)
		return 1
	}
	return 0
}

// masterURLOf accepts Salt's `master: host` as well as full URLs.
func masterURLOf(s string, port int) string {
	if strings.Contains(s, "://") {
		return s
	}
	if port == 0 {
		port = 4222
	}
	if _, _, err := net.SplitHostPort(s); err == nil {
		return "tls://" + s
	}
	return "tls://" + net.JoinHostPort(s, strconv.Itoa(port))
}

func daemonFirst(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/brine-cm/brine/minion"
	"github.com/brine-cm/brine/pkg/audit"
	"github.com/brine-cm/brine/pkg/config"
	"github.com/brine-cm/brine/pkg/keys"
)

const auditCmdUsage = `usage: brine-minion audit verify [--data-dir DIR] [--config FILE] [--out json]
       brine-minion audit show [--actor GLOB] [--action GLOB] [--target GLOB] [--jid JID]
                               [--since TIME] [--until TIME] [--data-dir DIR] [--out json]
Reads this host's own audit log in DATA_DIR/audit (what the minion did here),
even while the daemon runs. verify checks the chain, the sequence and that
every checkpoint is signed by this minion's key, or by an earlier key that a
key.rotated entry (written when the minion starts with a new key) hands over
from; it exits 1 on a problem.
TIME is RFC 3339 or a duration ago (15m, 2h, 7d).
`

// runAudit runs `brine-minion audit ...`.
func runAudit(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, auditCmdUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sub := args[0]
	if sub != "verify" && sub != "show" {
		fmt.Fprintf(stderr, "brine-minion audit: unknown command %q (verify, show)\n", sub)
		return 2
	}
	fs := flag.NewFlagSet("brine-minion audit "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, auditCmdUsage) }
	cfgFile := fs.String("config", config.DefaultMinionPath, "config file (YAML)")
	dataDir := fs.String("data-dir", "", "data directory (default: the config's data_dir)")
	out := fs.String("out", "txt", "txt or json (JSON lines, exactly as stored)")
	var f audit.Filter
	var since, until string
	if sub == "show" {
		fs.StringVar(&f.Actor, "actor", "", "actor glob")
		fs.StringVar(&f.Action, "action", "", "action glob (cmd.run, file.*)")
		fs.StringVar(&f.Target, "target", "", "target glob")
		fs.StringVar(&f.JID, "jid", "", "job id")
		fs.StringVar(&since, "since", "", "from TIME (inclusive)")
		fs.StringVar(&until, "until", "", "to TIME (exclusive)")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *out != "txt" && *out != "json" {
		fmt.Fprintf(stderr, "brine-minion audit: --out %q: want txt or json\n", *out)
		return 2
	}
	dir := *dataDir
	if dir == "" {
		explicit := false
		fs.Visit(func(fl *flag.Flag) { explicit = explicit || fl.Name == "config" })
		cfg, err := config.LoadMinion(*cfgFile, explicit)
		if err != nil {
			fmt.Fprintln(stderr, "brine-minion:", err)
			return 1
		}
		dir = cfg.DataDir
	}
	adir := minion.AuditDir(dir)
	if _, err := os.Stat(filepath.Join(adir, audit.SegmentName(1))); err != nil {
		fmt.Fprintf(stderr, "brine-minion audit: no audit log in %s: %v\n", adir, err)
		return 1
	}
	if sub == "show" {
		var err error
		if f.Since, err = auditWhen(since); err == nil {
			f.Until, err = auditWhen(until)
		}
		if err != nil {
			fmt.Fprintln(stderr, "brine-minion audit:", err)
			return 2
		}
		err = audit.Scan(adir, f, func(e audit.Entry, line []byte) error {
			if *out == "json" {
				_, err := fmt.Fprintf(stdout, "%s\n", line)
				return err
			}
			row := fmt.Sprintf("%s %7d %-18s %-16s %-24s %-14s", e.Time.UTC().Format("2006-01-02T15:04:05.000Z"), e.Seq, e.Actor, e.Action, e.Target, e.Outcome)
			if e.JID != "" {
				row += " jid=" + e.JID
			}
			if len(e.Detail) > 0 {
				b, _ := json.Marshal(e.Detail)
				row += " " + string(b)
			}
			_, err := fmt.Fprintln(stdout, strings.TrimRight(row, " "))
			return err
		})
		if err != nil {
			fmt.Fprintln(stderr, "brine-minion audit:", err)
			return 1
		}
		return 0
	}
	kp, err := keys.Load(filepath.Join(dir, "minion.nk"))
	if err != nil {
		fmt.Fprintln(stderr, "brine-minion audit: minion key (needed to check signatures):", err)
		return 1
	}
	pub := keys.Public(kp)
	rep, verr := audit.Verify(adir, func(pk string) bool { return pk == pub })
	var prob *audit.Problem
	if verr != nil && !errors.As(verr, &prob) {
		fmt.Fprintln(stderr, "brine-minion audit:", verr)
		return 1
	}
	if *out == "json" {
		r := map[string]any{"log": adir, "ok": verr == nil, "entries": rep.Entries, "last_seq": rep.LastSeq,
			"checkpoints": rep.Checkpoints, "signed": rep.Signed, "unsigned_tail": rep.Unsigned, "key_rotations": rep.Rotations, "warnings": rep.Warnings}
		if verr != nil {
			r["problem"] = verr.Error()
		}
		b, _ := json.Marshal(r)
		fmt.Fprintln(stdout, string(b))
	} else {
		for _, w := range rep.Warnings {
			fmt.Fprintln(stdout, "WARNING:", w)
		}
		if verr != nil {
			fmt.Fprintln(stdout, "FAIL:", verr)
		} else {
			fmt.Fprintf(stdout, "ok %s: %d entries (seq %d..%d), %d checkpoints, %d signed, %d entries after the last checkpoint\n",
				adir, rep.Entries, rep.FirstSeq, rep.LastSeq, rep.Checkpoints, rep.Signed, rep.Unsigned)
		}
	}
	if verr != nil {
		return 1
	}
	return 0
}

// auditWhen reads RFC 3339 or a duration ago ("15m", "2h", "7d").
func auditWhen(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	mult := time.Duration(1)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		s, mult = n+"h", 24
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want RFC 3339 or a duration such as 2h or 7d", s)
	}
	return time.Now().Add(-d * mult), nil
}

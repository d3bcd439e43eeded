package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/brine-cm/brine/master/auditlog"
	"github.com/brine-cm/brine/pkg/audit"
	"github.com/brine-cm/brine/pkg/keys"
	"github.com/brine-cm/brine/proto"
)

const auditUsage = `usage: brine-master audit COMMAND [flags]
  tail   [-f] [-n N] [--out json]        the newest entries of the master's log; -f follows
  show   [--actor GLOB] [--action GLOB] [--target GLOB] [--jid JID]
         [--since TIME] [--until TIME] [--minion ID] [--out json]
                                         entries of the master's log, or with --minion the
                                         log that minion forwarded (what it did on its host)
  verify [--local] [--out json]          check the master's log and every forwarded minion
                                         log: chain, signatures, sequence; exit 1 on a problem
The master's own log is read from DATA_DIR/audit on the master host (it works
while the master is down). Forwarded minion logs live in the master's
JetStream and are read through the operator API. TIME is RFC 3339 or a
duration ago (15m, 2h, 7d).
`

// auditCmd runs `brine-master audit ...`.
func auditCmd(g Global, args []string, o IO) (int, error) {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(o.Out, auditUsage)
		if len(args) == 0 {
			return 2, nil
		}
		return 0, nil
	}
	fs := flag.NewFlagSet("brine-master audit "+args[0], flag.ContinueOnError)
	fs.SetOutput(o.Err)
	fs.Usage = func() { fmt.Fprint(o.Err, auditUsage) }
	var f auditFlags
	fs.StringVar(&f.out, "out", "txt", "txt or json (JSON lines, exactly as stored)")
	switch args[0] {
	case "tail":
		fs.BoolVar(&f.follow, "f", false, "follow")
		fs.IntVar(&f.n, "n", 20, "entries to print")
	case "show", "query":
		fs.StringVar(&f.actor, "actor", "", "actor glob (op:alice, web*)")
		fs.StringVar(&f.action, "action", "", "action glob (key.*, job.publish)")
		fs.StringVar(&f.target, "target", "", "target glob")
		fs.StringVar(&f.jid, "jid", "", "job id")
		fs.StringVar(&f.since, "since", "", "from TIME (inclusive)")
		fs.StringVar(&f.until, "until", "", "to TIME (exclusive)")
		fs.StringVar(&f.minion, "minion", "", "show this minion's forwarded log")
	case "verify":
		fs.BoolVar(&f.local, "local", false, "check only the master's own log")
		fs.StringVar(&f.dir, "dir", "", "audit directory (default DATA_DIR/audit)")
	default:
		return 2, fmt.Errorf("audit: unknown command %q (tail, show, verify)", args[0])
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2, nil
	}
	if f.out != "txt" && f.out != "json" {
		return 2, fmt.Errorf("audit: --out %q: want txt or json", f.out)
	}
	// The data dir is enough for the local log; the master need not run.
	_ = g.resolve()
	if f.dir == "" {
		f.dir = auditlog.Dir(g.DataDir)
	}
	switch args[0] {
	case "tail":
		return auditTail(f, o)
	case "show", "query":
		return auditShow(g, f, o)
	default:
		return auditVerify(g, f, o)
	}
}

type auditFlags struct {
	out, dir                   string
	follow, local              bool
	n                          int
	actor, action, target, jid string
	since, until, minion       string
}

func (f *auditFlags) filter() (audit.Filter, error) {
	af := audit.Filter{Actor: f.actor, Action: f.action, Target: f.target, JID: f.jid}
	var err error
	if af.Since, err = parseWhen(f.since); err != nil {
		return af, fmt.Errorf("audit: --since: %w", err)
	}
	if af.Until, err = parseWhen(f.until); err != nil {
		return af, fmt.Errorf("audit: --until: %w", err)
	}
	return af, nil
}

// parseWhen reads RFC 3339 or a duration ago ("15m", "2h", "7d").
func parseWhen(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		s = n + "h"
		d, err := time.ParseDuration(s)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q: want RFC 3339 or a duration such as 2h or 7d", s)
		}
		return time.Now().Add(-24 * d), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want RFC 3339 or a duration such as 2h or 7d", s)
	}
	return time.Now().Add(-d), nil
}

func checkDir(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, audit.SegmentName(1))); err != nil {
		return fmt.Errorf("audit: no audit log in %s (run this on the master host, or pass --data-dir): %w", dir, err)
	}
	return nil
}

// printEntry writes one entry: the exact stored line for json, a
// readable row otherwise.
func printEntry(w io.Writer, out string, e audit.Entry, line []byte) {
	if out == "json" {
		w.Write(line)
		io.WriteString(w, "\n")
		return
	}
	row := fmt.Sprintf("%s %7d %-18s %-16s %-24s %-14s", e.Time.UTC().Format("2006-01-02T15:04:05.000Z"), e.Seq, e.Actor, e.Action, e.Target, e.Outcome)
	if e.JID != "" {
		row += " jid=" + e.JID
	}
	if len(e.Detail) > 0 {
		b, _ := json.Marshal(e.Detail)
		if len(b) > 200 {
			b = append(b[:197], "..."...)
		}
		row += " " + string(b)
	}
	fmt.Fprintln(w, strings.TrimRight(row, " "))
}

func auditTail(f auditFlags, o IO) (int, error) {
	if err := checkDir(f.dir); err != nil {
		return 1, err
	}
	type item struct {
		e    audit.Entry
		line []byte
	}
	var ring []item
	var last uint64
	err := audit.Scan(f.dir, audit.Filter{}, func(e audit.Entry, line []byte) error {
		last = e.Seq
		if f.n <= 0 {
			return nil
		}
		ring = append(ring, item{e, append([]byte(nil), line...)})
		if len(ring) > f.n {
			ring = ring[1:]
		}
		return nil
	})
	if err != nil {
		return 1, err
	}
	for _, it := range ring {
		printEntry(o.Out, f.out, it.e, it.line)
	}
	if !f.follow {
		return 0, nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err = audit.Tail(ctx, f.dir, last+1, 0, func(r audit.RawEntry) error {
		if r.Checkpoint {
			return nil
		}
		var e audit.Entry
		if err := json.Unmarshal(r.Line, &e); err != nil {
			return fmt.Errorf("audit: seq %d: %w", r.Seq, err)
		}
		printEntry(o.Out, f.out, e, r.Line)
		if fl, ok := o.Out.(interface{ Sync() error }); ok {
			_ = fl.Sync()
		}
		return nil
	})
	return 0, err
}

func auditShow(g Global, f auditFlags, o IO) (int, error) {
	af, err := f.filter()
	if err != nil {
		return 2, err
	}
	emit := func(e audit.Entry, line []byte) error {
		printEntry(o.Out, f.out, e, line)
		return nil
	}
	if f.minion == "" {
		if err := checkDir(f.dir); err != nil {
			return 1, err
		}
		return 0, audit.Scan(f.dir, af, emit)
	}
	c, err := Dial(g)
	if err != nil {
		return 1, err
	}
	defer c.Close()
	lines, _, _, err := c.readMinionLog(f.minion, 0)
	if err != nil {
		return 1, err
	}
	return 0, scanLines(lines, af, emit)
}

// readMinionLog pages through a minion's forwarded log (epoch 0: every
// epoch) and returns the minion's accepted key and the epoch's key.
func (c *Client) readMinionLog(id string, epoch int) (lines []byte, nkey, epochKey string, err error) {
	req := proto.AuditReadRequest{V: proto.Version, Minion: id, Epoch: epoch}
	for {
		var rep proto.AuditReadReply
		if err := c.Call(proto.VerbAuditRead, req, &rep, 30*time.Second); err != nil {
			return nil, "", "", err
		}
		lines = append(lines, rep.Lines...)
		nkey = rep.Nkey
		if rep.EpochKey != "" {
			epochKey = rep.EpochKey
		}
		if !rep.More || rep.Next == req.After {
			return lines, nkey, epochKey, nil
		}
		req.After = rep.Next
	}
}

// scanLines applies a filter to raw lines, skipping checkpoints.
func scanLines(data []byte, af audit.Filter, fn func(audit.Entry, []byte) error) error {
	dir, err := os.MkdirTemp("", "brine-audit-")
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer os.RemoveAll(dir)
	// audit.Scan reads directories; the forwarded copy is one segment.
	if err := os.WriteFile(filepath.Join(dir, audit.SegmentName(1)), data, 0o600); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return audit.Scan(dir, af, fn)
}

// verifyResult is one log's verdict, printed as a line or JSON.
type verifyResult struct {
	Log         string   `json:"log"`
	OK          bool     `json:"ok"`
	Entries     uint64   `json:"entries"`
	FirstSeq    uint64   `json:"first_seq,omitempty"`
	LastSeq     uint64   `json:"last_seq"`
	Checkpoints int      `json:"checkpoints"`
	Signed      int      `json:"signed"`
	Unsigned    uint64   `json:"unsigned_tail"`
	Rotations   int      `json:"key_rotations,omitempty"`
	Warnings    []string `json:"warnings,omitempty"`
	Problem     string   `json:"problem,omitempty"`
}

func resultOf(name string, rep audit.Report, err error) verifyResult {
	r := verifyResult{Log: name, OK: err == nil, Entries: rep.Entries, FirstSeq: rep.FirstSeq, LastSeq: rep.LastSeq,
		Checkpoints: rep.Checkpoints, Signed: rep.Signed, Unsigned: rep.Unsigned, Rotations: rep.Rotations, Warnings: rep.Warnings}
	if err != nil {
		r.Problem = err.Error()
	}
	return r
}

func printResult(w io.Writer, out string, r verifyResult) {
	if out == "json" {
		b, _ := json.Marshal(r)
		fmt.Fprintln(w, string(b))
		return
	}
	for _, wn := range r.Warnings {
		fmt.Fprintf(w, "WARNING %s: %s\n", r.Log, wn)
	}
	if !r.OK {
		fmt.Fprintf(w, "FAIL %s: %s\n", r.Log, r.Problem)
		return
	}
	fmt.Fprintf(w, "ok %s: %d entries (seq %d..%d), %d checkpoints, %d signed, %d entries after the last checkpoint\n",
		r.Log, r.Entries, r.FirstSeq, r.LastSeq, r.Checkpoints, r.Signed, r.Unsigned)
}

func auditVerify(g Global, f auditFlags, o IO) (int, error) {
	code := 0
	if err := checkDir(f.dir); err != nil {
		return 1, err
	}
	kp, err := keys.Load(filepath.Join(g.DataDir, "master.nk"))
	if err != nil {
		return 1, fmt.Errorf("audit: master key (needed to check signatures): %w", err)
	}
	masterPK := keys.Public(kp)
	history, err := auditlog.TrustedKeys(f.dir)
	if err != nil {
		return 1, err
	}
	// A checkpoint is trusted when the current key or an earlier master key
	// (the history kept since the key was replaced) signed it.
	rep, verr := audit.Verify(f.dir, func(pk string) bool { return pk == masterPK || history[pk] })
	var prob *audit.Problem
	if verr != nil && !errors.As(verr, &prob) {
		return 1, verr
	}
	res := resultOf("master", rep, verr)
	printResult(o.Out, f.out, res)
	if !res.OK {
		code = 1
	}
	if f.local {
		return code, nil
	}
	c, err := Dial(g)
	if err != nil {
		return 1, fmt.Errorf("forwarded minion logs not checked (use --local to check only the master's log): %w", err)
	}
	defer c.Close()
	var ml proto.AuditMinionsReply
	if err := c.Call(proto.VerbAuditMinions, struct {
		V int `json:"v"`
	}{proto.Version}, &ml, 30*time.Second); err != nil {
		return 1, err
	}
	sort.Slice(ml.Minions, func(i, j int) bool { return ml.Minions[i].ID < ml.Minions[j].ID })
	for _, m := range ml.Minions {
		ok, err := c.verifyMinionLog(m, f.out, o.Out)
		if err != nil {
			return 1, err
		}
		if !ok {
			code = 1
		}
	}
	return code, nil
}

// verifyMinionLog checks each epoch of a minion's forwarded copy against
// the key it was forwarded under. An epoch that starts at seq 1 is a log
// of its own (the minion's data dir was rebuilt); any other must continue
// exactly where the epoch before it ended, with checkpoints by the previous
// key until the minion's key.rotated entry hands over, so nothing between
// epochs is lost or repeated.
func (c *Client) verifyMinionLog(m proto.AuditMinionLog, out string, w io.Writer) (bool, error) {
	epochs := max(m.Epoch, 1)
	var prev audit.Report
	prevKey := ""
	ok := true
	for e := 1; e <= epochs; e++ {
		lines, nkey, key, err := c.readMinionLog(m.ID, e)
		if err != nil {
			return false, err
		}
		if key == "" && e == epochs {
			key = nkey // stored before epochs were kept: the accepted key
		}
		var trusted func(string) bool
		start, signer := audit.Position{}, ""
		if e > 1 && !auditlog.StartsLog(lines) {
			// Until its key.rotated entry, the epoch's checkpoints are by
			// the key the epoch before ended with (its own key when it
			// had no checkpoint).
			start, signer = prev.End, prev.Key
			if signer == "" {
				signer = prevKey
			}
		}
		if key != "" {
			trusted = func(pk string) bool { return pk == key || (signer != "" && pk == signer) }
		}
		rep, verr := audit.VerifyEntriesFrom(bytes.NewReader(lines), start, signer, trusted)
		var prob *audit.Problem
		if verr != nil && !errors.As(verr, &prob) {
			return false, verr
		}
		if key == "" {
			rep.Warnings = append(rep.Warnings, "no key on record for this epoch; signatures were checked against the keys they name")
		}
		name := "minion " + m.ID
		if epochs > 1 {
			name = fmt.Sprintf("minion %s epoch %d", m.ID, e)
			switch {
			case start.Seq > 0:
				name += fmt.Sprintf(" (continues epoch %d)", e-1)
			case e > 1:
				name += " (a new log)"
			}
		}
		res := resultOf(name, rep, verr)
		if res.OK && len(lines) == 0 {
			res.OK, res.Problem = false, "the epoch holds no lines"
		}
		if res.OK && e == epochs && rep.End.Seq != m.LastSeq {
			res.OK, res.Problem = false, fmt.Sprintf("stored copy ends at seq %d but the master recorded %d", rep.End.Seq, m.LastSeq)
		}
		printResult(w, out, res)
		if !res.OK {
			ok = false
			if verr != nil {
				return false, nil // later epochs cannot be placed
			}
		}
		prev, prevKey = rep, key
	}
	return ok, nil
}

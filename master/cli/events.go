package cli

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/brine-cm/brine/master/api"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
)

const eventsUsage = `usage: brine-master events [TAG_GLOB] [--count N] [--timeout DURATION] [--out json]
Prints the master's events as they happen (Salt's state.event): key
changes, minions starting, jobs published and returned, pillar changes,
and the events minions raise. TAG_GLOB selects by Salt-style tag, * also
matching "/" (default: every event), e.g. 'salt/job/*/ret/*'. Stops after
N events, after DURATION, or on Ctrl-C.`

// eventRenew is how often the CLI extends its watch; the lease it asks
// for is three times that, so a CLI that died stops costing the master
// anything within a minute.
const eventRenew = 20 * time.Second

// eventsCmd is `brine-master events`.
func eventsCmd(g Global, args []string, io IO) (int, error) {
	glob, format := "", ""
	count := 0
	var timeout time.Duration
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-h" || a == "--help" || a == "help" {
			fmt.Fprintln(io.Out, eventsUsage)
			return 0, nil
		}
		name, val, hasVal := strings.Cut(a, "=")
		switch name {
		case "--count", "--timeout", "--out", "--output":
			if !hasVal {
				if i+1 >= len(args) {
					return 2, fmt.Errorf("flag %s needs a value", name)
				}
				i++
				val = args[i]
			}
		default:
			if strings.HasPrefix(a, "-") {
				return 2, fmt.Errorf("unknown flag %s\n%s", a, eventsUsage)
			}
			if glob != "" {
				return 2, errors.New(eventsUsage)
			}
			glob = a
			continue
		}
		var err error
		switch name {
		case "--count":
			if count, err = strconv.Atoi(val); err != nil || count < 0 {
				return 2, fmt.Errorf("--count %q: want a number of events", val)
			}
		case "--timeout":
			if timeout, err = time.ParseDuration(val); err != nil || timeout < 0 {
				return 2, fmt.Errorf("--timeout %q: want a duration such as 30s", val)
			}
		default:
			if val != "json" {
				return 2, fmt.Errorf("--out %q: events print as TAG<tab>DATA, or one JSON object per line with --out json", val)
			}
			format = val
		}
	}
	c, err := Dial(g)
	if err != nil {
		return 1, err
	}
	defer c.Close()
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 1, fmt.Errorf("events: %w", err)
	}
	req := api.EventWatch{V: proto.Version, Tag: glob, Stream: hex.EncodeToString(b[:]), LeaseSec: int(3 * eventRenew / time.Second)}
	events := make(chan *nats.Msg, 4096)
	sub, err := c.nc.ChanSubscribe(api.EventsSubject(c.operator, req.Stream), events)
	if err != nil {
		return 1, fmt.Errorf("events: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	var rep api.EventWatchReply
	if err := c.Call(api.VerbEventWatch, req, &rep, 30*time.Second); err != nil {
		return 1, err
	}
	defer func() { _ = c.Call(api.VerbEventUnwatch, req, &rep, 5*time.Second) }()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(stop)
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	renew := time.NewTicker(eventRenew)
	defer renew.Stop()
	for n := 0; count == 0 || n < count; {
		select {
		case m := <-events:
			if err := printEvent(io, m.Data, format); err != nil {
				return 1, err
			}
			n++
		case <-renew.C:
			if err := c.Call(api.VerbEventWatch, req, &rep, 30*time.Second); err != nil {
				return 1, err
			}
		case <-deadline:
			return 0, nil
		case <-stop:
			return 0, nil
		}
	}
	return 0, nil
}

// printEvent prints one event as Salt's state.event does, the tag, a
// tab and the data as JSON, or the whole event as one JSON line.
func printEvent(io IO, b []byte, format string) error {
	var e proto.Event
	if err := json.Unmarshal(b, &e); err != nil {
		return fmt.Errorf("events: malformed event: %w", err)
	}
	if format == "json" {
		_, err := fmt.Fprintf(io.Out, "%s\n", b)
		return err
	}
	data, _ := json.Marshal(e.Data)
	_, err := fmt.Fprintf(io.Out, "%s\t%s\n", e.Tag, data)
	return err
}

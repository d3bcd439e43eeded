package cli

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/brine-cm/brine/master/jobs"
	"github.com/brine-cm/brine/pkg/output"
	"github.com/brine-cm/brine/proto"
)

const jobsUsage = `usage: brine-master jobs list [--target T] [--function F] [--user U] [--since TIME] [--until TIME] [--out FORMAT]
       brine-master jobs show JID [--out FORMAT]
       brine-master jobs active [--out FORMAT]
       brine-master jobs kill JID
TIME is a jid, an RFC 3339 time, YYYY-MM-DD, or a duration back from now (2h).`

// jobsCmd is `brine-master jobs`: the master's job history (Salt's
// jobs runner: list_jobs, lookup_jid, active) and kill.
func jobsCmd(g Global, args []string, io IO) (int, error) {
	if len(args) == 0 {
		return 2, errors.New(jobsUsage)
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" || (len(args) > 1 && (args[1] == "-h" || args[1] == "--help")) {
		fmt.Fprintln(io.Out, jobsUsage)
		return 0, nil
	}
	sub := args[0]
	var pos []string
	var req jobs.ListRequest
	req.V = proto.Version
	format := ""
	flags := map[string]*string{"--target": &req.Target, "--function": &req.Function, "--user": &req.User,
		"--since": &req.Since, "--until": &req.Until, "--out": &format, "--output": &format}
	for i := 1; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(a, "=")
		p, ok := flags[name]
		if !ok {
			if strings.HasPrefix(a, "-") {
				return 2, fmt.Errorf("unknown flag %s\n%s", a, jobsUsage)
			}
			pos = append(pos, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return 2, fmt.Errorf("flag %s needs a value", name)
			}
			i++
			val = args[i]
		}
		*p = val
	}
	if format != "" && !contains(output.Formats, format) {
		return 2, fmt.Errorf("unknown output format %q (want one of %s)", format, strings.Join(output.Formats, ", "))
	}
	needJID := sub == "show" || sub == "kill" || sub == "lookup"
	switch {
	case sub != "list" && sub != "active" && !needJID:
		return 2, fmt.Errorf("unknown jobs command %q\n%s", sub, jobsUsage)
	case needJID && len(pos) != 1:
		return 2, errors.New(jobsUsage)
	case !needJID && len(pos) != 0:
		return 2, errors.New(jobsUsage)
	}
	if needJID {
		if _, err := proto.ParseJID(pos[0]); err != nil {
			return 2, err
		}
	}
	c, err := Dial(g)
	if err != nil {
		return 1, err
	}
	defer c.Close()
	switch sub {
	case "list", "active":
		var rep jobs.ListReply
		verb := jobs.VerbList
		if sub == "active" {
			verb = jobs.VerbActive
		}
		if err := c.Call(verb, req, &rep, 30*time.Second); err != nil {
			return 1, err
		}
		res := map[string]any{}
		for _, j := range rep.Jobs {
			res[j.JID] = summaryMap(j)
		}
		if format == "" {
			format = "nested"
		}
		return 0, output.Fprint(io.Out, format, res, output.Options{Color: output.IsTerminal(io.Out), Static: true})
	case "show", "lookup":
		rep, err := c.show(pos[0])
		if err != nil {
			return 1, err
		}
		if format == "json" || format == "yaml" {
			rets := map[string]any{}
			for id, r := range rep.Returns {
				rets[id] = map[string]any{"return": r.Return, "retcode": r.Retcode, "success": r.Success}
			}
			missing := rep.Missing
			if missing == nil {
				missing = []string{}
			}
			doc := summaryMap(rep.Job)
			doc["jid"] = rep.Job.JID
			doc["Returns"] = rets
			doc["Missing"] = missing
			if len(rep.Connected) > 0 {
				doc["Connected"] = rep.Connected
			}
			return 0, output.Fprint(io.Out, format, map[string]any{rep.Job.JID: doc}, output.Options{Static: true})
		}
		results := map[string]any{}
		for id, r := range rep.Returns {
			results[id] = r.Return
		}
		for _, id := range rep.Missing {
			results[id] = missingText(id, rep.Connected)
		}
		if len(results) == 0 {
			fmt.Fprintf(io.Out, "Job %s targeted no minions.\n", rep.Job.JID)
			return 0, nil
		}
		return 0, printResults(io.Out, format, rep.Job.Function, results)
	case "kill":
		var rep jobs.KillReply
		if err := c.Call(jobs.VerbKill, jobs.JIDRequest{V: proto.Version, JID: pos[0]}, &rep, 30*time.Second); err != nil {
			return 1, err
		}
		if len(rep.Minions) == 0 {
			fmt.Fprintf(io.Out, "Job %s is not running on any minion.\n", rep.JID)
			return 0, nil
		}
		fmt.Fprintf(io.Out, "Sent saltutil.kill_job %s to %s (jid %s)\n", rep.JID, strings.Join(rep.Minions, ", "), rep.KillJID)
		return 0, nil
	}
	return 2, errors.New(jobsUsage)
}

// summaryMap is one job in the shape of Salt's jobs.list_jobs.
func summaryMap(j jobs.JobSummary) map[string]any {
	args := j.Arguments
	if args == nil {
		args = []any{}
	}
	m := map[string]any{"Function": j.Function, "Arguments": args, "Target": j.Target, "Target-type": j.TargetType,
		"User": j.User, "StartTime": j.StartTime.UTC().Format("2006, Jan 02 15:04:05.000000"),
		"Minions": j.Minions, "Returned": j.Returned}
	if len(j.Kwargs) > 0 {
		m["Kwargs"] = j.Kwargs
	}
	if len(j.Missing) > 0 {
		m["Missing"] = j.Missing
	}
	if j.Batch != "" {
		m["Batch"] = j.Batch
	}
	return m
}

// show asks for one job with its returns streamed in parts, so a job of
// any fleet's size fits, and merges them into the reply.
func (c *Client) show(jid string) (jobs.ShowReply, error) {
	var rep jobs.ShowReply
	rs, err := c.returnStream()
	if err != nil {
		return rep, err
	}
	defer rs.stop()
	if err := c.Call(jobs.VerbShow, jobs.JIDRequest{V: proto.Version, JID: jid, Stream: rs.tag}, &rep, 60*time.Second); err != nil {
		return rep, err
	}
	run := jobs.RunReply{RunReply: proto.RunReply{JID: rep.Job.JID, Returns: rep.Returns, Missing: rep.Missing}, Connected: rep.Connected, Parts: rep.Parts}
	if err := rs.merge(&run, 30*time.Second); err != nil {
		return rep, err
	}
	rep.Returns, rep.Missing, rep.Connected = run.Returns, run.Missing, run.Connected
	sort.Strings(rep.Missing)
	return rep, nil
}

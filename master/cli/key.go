package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/brine-cm/brine/proto"
	"gopkg.in/yaml.v3"
)

// keyArgs is a parsed `key` command line.
type keyArgs struct {
	action  string // list, accept, reject, delete, finger
	match   []string
	all     bool
	yes     bool
	out     string
	include []string
}

// keyUsage is `key --help`: the verbs, salt-key's letters and the flags.
const keyUsage = `usage: brine-master key [list|accept|reject|delete|finger] [ID|GLOB ...] [flags]
Manage minion keys, as salt-key does. Several ids or globs may be given
(or a comma-separated list after a letter flag).
  list                 list keys grouped by state (the default)        -L, --list-all
  accept ID|GLOB...    accept pending keys                             -a ID, -A (all)
  reject ID|GLOB...    reject pending keys                             -r ID, -R (all)
  delete ID|GLOB...    delete keys in any state                        -d ID, -D (all)
  finger [ID|GLOB...]  print key fingerprints, and the master's own    -f ID, -F (all)
flags:
  --all                act on every key the verb applies to
  -y, --yes            do not ask (accept, reject and delete ask when stdin is a terminal)
  --include-accepted   reject also accepted keys
  --include-rejected   accept also rejected keys
  --include-denied     accept or reject also denied keys
  --include-all        all of the three above
  --out json|yaml|txt  output format; json and yaml group by minions, minions_pre,
                       minions_rejected, minions_denied
`

// errKeyHelp is returned by parseKeyArgs for -h/--help.
var errKeyHelp = errors.New("help requested")

// parseKeyArgs understands both `key accept ID` and salt-key's letters
// (-L -a -A -r -R -d -D -f -F).
func parseKeyArgs(args []string) (keyArgs, error) {
	var k keyArgs
	set := func(a string) error {
		if k.action != "" && k.action != a {
			return fmt.Errorf("conflicting actions %s and %s", k.action, a)
		}
		k.action = a
		return nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() (string, error) {
			if i+1 >= len(args) {
				return "", fmt.Errorf("%s needs a value", a)
			}
			i++
			return args[i], nil
		}
		var err error
		switch {
		case a == "list" || a == "-L" || a == "--list-all":
			err = set("list")
		case a == "accept" || a == "reject" || a == "delete" || a == "finger":
			err = set(a)
		case a == "-a" || a == "--accept" || a == "-r" || a == "--reject" || a == "-d" || a == "--delete" || a == "-f" || a == "--finger":
			act := map[string]string{"-a": "accept", "--accept": "accept", "-r": "reject", "--reject": "reject",
				"-d": "delete", "--delete": "delete", "-f": "finger", "--finger": "finger"}[a]
			if err = set(act); err == nil {
				var v string
				if v, err = next(); err == nil {
					k.match = append(k.match, strings.Split(v, ",")...)
				}
			}
		case a == "-A" || a == "--accept-all":
			err = set("accept")
			k.all = true
		case a == "-R" || a == "--reject-all":
			err = set("reject")
			k.all = true
		case a == "-D" || a == "--delete-all":
			err = set("delete")
			k.all = true
		case a == "-F" || a == "--finger-all":
			err = set("finger")
			k.all = true
		case a == "--all":
			k.all = true
		case a == "-h" || a == "--help":
			return k, errKeyHelp
		case a == "-y" || a == "--yes":
			k.yes = true
		case a == "--include-rejected":
			k.include = append(k.include, proto.KeyRejected)
		case a == "--include-accepted":
			k.include = append(k.include, proto.KeyAccepted)
		case a == "--include-denied":
			k.include = append(k.include, proto.KeyDenied)
		case a == "--include-all":
			k.include = append(k.include, proto.KeyRejected, proto.KeyAccepted, proto.KeyDenied)
		case a == "--out" || strings.HasPrefix(a, "--out="):
			if v, ok := strings.CutPrefix(a, "--out="); ok {
				k.out = v
			} else {
				k.out, err = next()
			}
		case strings.HasPrefix(a, "-"):
			err = fmt.Errorf("unknown flag %s", a)
		default:
			k.match = append(k.match, a)
		}
		if err != nil {
			return k, err
		}
	}
	if k.action == "" {
		k.action = "list"
	}
	if (k.action == "accept" || k.action == "reject" || k.action == "delete") && !k.all && len(k.match) == 0 {
		return k, fmt.Errorf("key %s: name keys (ids or globs) or use --all", k.action)
	}
	switch k.out {
	case "", "json", "yaml", "txt":
	default:
		return k, fmt.Errorf("--out %q: want json, yaml or txt", k.out)
	}
	return k, nil
}

var stateGroups = []struct{ state, json, title string }{
	{proto.KeyAccepted, "minions", "Accepted Keys:"},
	{proto.KeyDenied, "minions_denied", "Denied Keys:"},
	{proto.KeyPending, "minions_pre", "Unaccepted Keys:"},
	{proto.KeyRejected, "minions_rejected", "Rejected Keys:"},
}

func keyCmd(g Global, args []string, io IO) (int, error) {
	k, err := parseKeyArgs(args)
	if errors.Is(err, errKeyHelp) {
		fmt.Fprint(io.Out, keyUsage)
		return 0, nil
	}
	if err != nil {
		return 2, fmt.Errorf("%w (see brine-master key --help)", err)
	}
	c, err := Dial(g)
	if err != nil {
		return 1, err
	}
	defer c.Close()
	cmd := proto.KeyCmd{V: proto.Version, Match: k.match, All: k.all, Include: k.include}
	var rep proto.KeyReply
	switch k.action {
	case "list", "finger":
		verb := proto.VerbKeyList
		if k.action == "finger" {
			verb = proto.VerbKeyFinger
		}
		if err := c.Call(verb, cmd, &rep, 10*time.Second); err != nil {
			return 1, err
		}
		return 0, printKeys(io, rep, k.out, k.action == "finger")
	}
	verb := map[string]string{"accept": proto.VerbKeyAccept, "reject": proto.VerbKeyReject, "delete": proto.VerbKeyDelete}[k.action]
	if io.Interactive && !k.yes {
		dry := cmd
		dry.DryRun = true
		if err := c.Call(verb, dry, &rep, 10*time.Second); err != nil {
			return 1, err
		}
		if len(rep.Keys) == 0 {
			fmt.Fprintln(io.Out, "The key glob does not match any keys.")
			return 0, nil
		}
		fmt.Fprintf(io.Out, "The following keys are going to be %s:\n", pastTense(k.action))
		printGroups(io, rep)
		fmt.Fprint(io.Out, "Proceed? [n/Y] ")
		line, _ := bufio.NewReader(io.In).ReadString('\n')
		if a := strings.TrimSpace(strings.ToLower(line)); a != "" && a != "y" && a != "yes" {
			return 0, nil
		}
		// Act on exactly the keys shown: a key that arrived while the
		// operator read the list is not accepted along with them.
		cmd.All, cmd.Match = false, exactIDs(rep.Keys)
	}
	rep = proto.KeyReply{}
	if err := c.Call(verb, cmd, &rep, 30*time.Second); err != nil {
		return 1, err
	}
	if len(rep.Keys) == 0 {
		fmt.Fprintln(io.Out, "The key glob does not match any keys.")
		return 0, nil
	}
	if k.out != "" && k.out != "txt" {
		return 0, printKeys(io, rep, k.out, false)
	}
	for _, r := range rep.Keys {
		fmt.Fprintf(io.Out, "Key for minion %s %s.\n", r.ID, pastTense(k.action))
	}
	return 0, nil
}

// exactIDs turns ids into globs that match only themselves.
func exactIDs(recs []proto.KeyRecord) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		var b strings.Builder
		for _, c := range r.ID {
			if strings.ContainsRune(`*?[]\`, c) {
				b.WriteByte('\\')
			}
			b.WriteRune(c)
		}
		out = append(out, b.String())
	}
	return out
}

// printGroups lists the keys about to change under their state's title,
// leaving out empty states, as salt-key's confirmation does.
func printGroups(io IO, rep proto.KeyReply) {
	for _, sg := range stateGroups {
		var ids []string
		for _, r := range rep.Keys {
			if r.State == sg.state {
				ids = append(ids, r.ID)
			}
		}
		if len(ids) == 0 {
			continue
		}
		sort.Strings(ids)
		fmt.Fprintln(io.Out, sg.title)
		for _, id := range ids {
			fmt.Fprintln(io.Out, id)
		}
	}
}

func pastTense(a string) string {
	return map[string]string{"accept": "accepted", "reject": "rejected", "delete": "deleted"}[a]
}

func printKeys(io IO, rep proto.KeyReply, out string, finger bool) error {
	groups := map[string][]proto.KeyRecord{}
	for _, r := range rep.Keys {
		groups[r.State] = append(groups[r.State], r)
	}
	for _, l := range groups {
		sort.Slice(l, func(i, j int) bool { return l[i].ID < l[j].ID })
	}
	switch out {
	case "json", "yaml":
		doc := map[string]any{}
		if finger {
			doc["local"] = map[string]string{"master.pub": rep.Master.SigningFinger, "master.tls": rep.Master.TLSFinger}
		}
		for _, sg := range stateGroups {
			if finger {
				m := map[string]string{}
				for _, r := range groups[sg.state] {
					m[r.ID] = r.Finger
				}
				doc[sg.json] = m
				continue
			}
			ids := []string{}
			for _, r := range groups[sg.state] {
				ids = append(ids, r.ID)
			}
			doc[sg.json] = ids
		}
		if out == "json" {
			b, err := json.MarshalIndent(doc, "", "    ")
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(io.Out, string(b))
			return err
		}
		b, err := yaml.Marshal(doc)
		if err != nil {
			return err
		}
		_, err = io.Out.Write(b)
		return err
	}
	if finger {
		fmt.Fprintln(io.Out, "Local Keys:")
		fmt.Fprintf(io.Out, "master.pub:  %s\n", rep.Master.SigningFinger)
		if rep.Master.TLSFinger != "" {
			fmt.Fprintf(io.Out, "master.tls:  %s\n", rep.Master.TLSFinger)
		}
	}
	for _, sg := range stateGroups {
		fmt.Fprintln(io.Out, sg.title)
		for _, r := range groups[sg.state] {
			if finger {
				fmt.Fprintf(io.Out, "%s:  %s\n", r.ID, r.Finger)
			} else {
				fmt.Fprintln(io.Out, r.ID)
			}
		}
	}
	return nil
}

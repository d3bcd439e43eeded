package execmod

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// registerCron adds Salt's cron module: it edits a user's crontab through
// `crontab -l` / `crontab -`, keeping the lines it manages below Salt's
// marker and tagging each job with a SALT_CRON_IDENTIFIER comment, so a
// crontab written by Salt is read and updated by brine and back.
func registerCron(r *Registry) {
	r.Register("cron.raw_cron", "Return the contents of the user's crontab.\nCLI Example: brine-master run '*' cron.raw_cron root", cronRaw)
	r.Register("cron.list_tab", "Return the user's crontab parsed into pre, crons, special and env.\nCLI Example: brine-master run '*' cron.list_tab root", cronListTab)
	r.Register("cron.ls", "Alias of cron.list_tab.", cronListTab)
	r.Register("cron.set_job", "Set a cron job; returns new, updated or present.\nCLI Example: brine-master run '*' cron.set_job root '*' '*' '*' '*' 1 /usr/local/weekly", cronSetJob)
	r.Register("cron.rm_job", "Remove a cron job; returns removed or absent.\nCLI Example: brine-master run '*' cron.rm_job root /usr/local/weekly", cronRmJob)
	r.Register("cron.rm", "Alias of cron.rm_job.", cronRmJob)
	r.Register("cron.set_special", "Set a special (@hourly, @reboot, ...) job; returns new, updated or present.\nCLI Example: brine-master run '*' cron.set_special root @hourly 'echo foobar'", cronSetSpecial)
	r.Register("cron.rm_special", "Remove a special job; returns removed or absent.\nCLI Example: brine-master run '*' cron.rm_special root /usr/bin/foo", cronRmSpecial)
	r.Register("cron.set_env", "Set a crontab environment variable; returns new, updated or present.\nCLI Example: brine-master run '*' cron.set_env root MAILTO user@example.com", cronSetEnv)
	r.Register("cron.rm_env", "Remove a crontab environment variable; returns removed or absent.\nCLI Example: brine-master run '*' cron.rm_env root MAILTO", cronRmEnv)
}

// cronTag is the marker line above the lines Salt (and brine) manage.
const cronTag = "# Lines below here are managed by Salt, do not edit"

// cronIDMarker tags a job's comment with its identifier.
const cronIDMarker = "SALT_CRON_IDENTIFIER"

// cronNoID is the identifier Salt gives jobs written without one.
const cronNoID = "NO ID SET"

// cronJob is one managed line; Spec is set for special (@...) jobs.
type cronJob struct {
	Minute, Hour, Daymonth, Month, Dayweek string
	Spec                                   string
	Cmd                                    string
	Comment, Identifier                    *string
	Commented                              bool
}

type cronEnv struct{ Name, Value string }

type cronTab struct {
	Pre     []string
	Crons   []cronJob
	Special []cronJob
	Env     []cronEnv
}

func strp(s string) *string { return &s }

func optStr(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// cronRawText returns a user's crontab text ("" when there is none).
func cronRawText(c *Context, user string) (string, error) {
	so, se, rc, err := acctQuery(c, "crontab", "-u", user, "-l")
	if err != nil {
		return "", err
	}
	if rc != 0 {
		if strings.Contains(strings.ToLower(se), "no crontab") {
			return "", nil
		}
		return "", fmt.Errorf("crontab -l: %s", strings.TrimSpace(se))
	}
	return so, nil
}

func parseCronTab(data string) cronTab {
	var t cronTab
	managed := false
	var comment, ident *string
	for _, line := range strings.Split(strings.TrimRight(data, "\n"), "\n") {
		if line == cronTag {
			managed = true
			continue
		}
		if !managed {
			if line != "" || len(t.Pre) > 0 || data != "" {
				t.Pre = append(t.Pre, line)
			}
			continue
		}
		commented := false
		if strings.HasPrefix(line, "#DISABLED#") {
			line, commented = line[len("#DISABLED#"):], true
		}
		switch {
		case strings.HasPrefix(line, "@"):
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			t.Special = append(t.Special, cronJob{Spec: f[0], Cmd: strings.Join(f[1:], " "),
				Identifier: ident, Comment: comment, Commented: commented})
			comment, ident = nil, nil
		case strings.HasPrefix(line, "#"):
			cl := strings.TrimLeft(line, "# ")
			if i := strings.Index(cl, cronIDMarker); i >= 0 {
				rest := cl[i+len(cronIDMarker):]
				cl = strings.TrimRight(cl[:i], " \t")
				if len(rest) > 1 {
					ident = strp(rest[1:])
				}
			}
			if comment == nil {
				comment = strp(cl)
			} else {
				comment = strp(*comment + "\n" + cl)
			}
		case strings.Index(line, "=") > 0 && (!strings.Contains(line, " ") || strings.Index(line, "=") < strings.Index(line, " ")):
			n, v, _ := strings.Cut(line, "=")
			t.Env = append(t.Env, cronEnv{n, v})
		case len(strings.Split(line, " ")) > 5:
			f := strings.Split(line, " ")
			t.Crons = append(t.Crons, cronJob{Minute: f[0], Hour: f[1], Daymonth: f[2], Month: f[3], Dayweek: f[4],
				Cmd: strings.Join(f[5:], " "), Identifier: ident, Comment: comment, Commented: commented})
			comment, ident = nil, nil
		}
	}
	if data == "" {
		t.Pre = nil
	}
	return t
}

func (j cronJob) commentLine() string {
	if j.Comment == nil && j.Identifier == nil {
		return ""
	}
	s := "#"
	if j.Comment != nil && *j.Comment != "" {
		s += " " + strings.ReplaceAll(strings.TrimRight(*j.Comment, " \t\n"), "\n", "\n# ")
	}
	if j.Identifier != nil && *j.Identifier != "" {
		s += " " + cronIDMarker + ":" + *j.Identifier
	}
	return s + "\n"
}

func renderCronTab(t cronTab) string {
	var b strings.Builder
	for _, p := range t.Pre {
		b.WriteString(p + "\n")
	}
	if len(t.Pre) == 0 || t.Pre[len(t.Pre)-1] != cronTag {
		b.WriteString(cronTag + "\n")
	}
	for _, e := range t.Env {
		if e.Value == "" {
			b.WriteString(e.Name + "=\"\"\n")
		} else {
			b.WriteString(e.Name + "=" + e.Value + "\n")
		}
	}
	dis := func(j cronJob) string {
		if j.Commented {
			return "#DISABLED#"
		}
		return ""
	}
	for _, j := range t.Crons {
		b.WriteString(j.commentLine())
		fmt.Fprintf(&b, "%s%s %s %s %s %s %s\n", dis(j), j.Minute, j.Hour, j.Daymonth, j.Month, j.Dayweek, j.Cmd)
	}
	for _, j := range t.Special {
		b.WriteString(j.commentLine())
		fmt.Fprintf(&b, "%s%s %s\n", dis(j), j.Spec, j.Cmd)
	}
	return b.String()
}

// writeCronTab installs the rendered crontab; a failure returns
// crontab's message, which Salt's functions return in place of a status.
func writeCronTab(c *Context, user string, t cronTab) (string, error) {
	_, se, rc, err := acctRun(c, renderCronTab(t), "crontab", "-u", user, "-")
	if err != nil {
		return "", err
	}
	if rc != 0 {
		return strings.TrimSpace(se), nil
	}
	return "", nil
}

// saveCronTab installs t for fn and gives the function's answer: status
// when crontab accepts it, else crontab's own message, as Salt returns.
func saveCronTab(c *Context, fn, user string, t cronTab, status string) (any, error) {
	msg, err := writeCronTab(c, user, t)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	if msg != "" {
		return msg, nil
	}
	return status, nil
}

func (j cronJob) id() string {
	if j.Identifier != nil && *j.Identifier != "" {
		return *j.Identifier
	}
	return cronNoID
}

// cronMatched is Salt's _cron_matched: a job matches by identifier when
// the crontab has one, else by command.
func cronMatched(j cronJob, cmd string, identifier *string) bool {
	cid := j.id()
	eid := cronNoID
	if identifier != nil && *identifier != "" {
		eid = *identifier
	}
	if j.Cmd != cmd && cid == cronNoID && eid == cronNoID {
		return false
	}
	if j.Cmd == cmd && cid == cronNoID && identifier != nil && *identifier != "" {
		cid = eid
	}
	return eid == cid
}

// needsChange is Salt's _needs_change: nil (not given) and "random"
// never force a change.
func needsChange(old string, new *string) bool {
	if new == nil || *new == "random" {
		return false
	}
	return old != *new
}

func needsChangePtr(old, new *string) bool {
	if new == nil {
		return false
	}
	if old == nil {
		return true
	}
	return *old != *new
}

// cronArgs holds the parsed arguments common to the cron functions.
type cronArgs struct {
	user, cmd           string
	fields              [5]*string // minute, hour, daymonth, month, dayweek
	spec                *string
	comment, identifier *string
	commented           *bool
}

func parseCronArgs(fn string, args []any, kwargs map[string]any, names ...string) (cronArgs, error) {
	kw, err := Bind(fn, args, kwargs, names...)
	if err != nil {
		return cronArgs{}, err
	}
	var a cronArgs
	get := func(k string) (*string, error) {
		if !Has(kw, k) {
			return nil, nil
		}
		s, err := Str(kw, k, "")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		return &s, nil
	}
	if err := Require(fn, kw, "user"); err != nil {
		return a, err
	}
	u, err := get("user")
	if err != nil {
		return a, err
	}
	a.user = *u
	for i, k := range []string{"minute", "hour", "daymonth", "month", "dayweek"} {
		if a.fields[i], err = get(k); err != nil {
			return a, err
		}
		if a.fields[i] != nil {
			a.fields[i] = strp(strings.ToLower(*a.fields[i]))
		}
	}
	for _, p := range []struct {
		k   string
		dst **string
	}{{"special", &a.spec}, {"comment", &a.comment}, {"identifier", &a.identifier}} {
		if *p.dst, err = get(p.k); err != nil {
			return a, err
		}
	}
	if a.identifier != nil && (*a.identifier == "" || *a.identifier == "False") {
		a.identifier = nil
	}
	if Has(kw, "commented") {
		b, err := Bool(kw, "commented", false)
		if err != nil {
			return a, fmt.Errorf("%s: %w", fn, err)
		}
		a.commented = &b
	}
	for _, k := range []string{"cmd", "name", "cmd"} {
		if Has(kw, k) {
			s, err := Str(kw, k, "")
			if err != nil {
				return a, fmt.Errorf("%s: %w", fn, err)
			}
			a.cmd = strings.TrimSuffix(s, "\n")
			break
		}
	}
	return a, nil
}

func randomField(i int) string {
	limits := []int{60, 24, 28, 12, 7}
	base := []int{0, 0, 1, 1, 0}
	return fmt.Sprint(base[i] + rand.IntN(limits[i]))
}

func cronRaw(c *Context, args []any, kwargs map[string]any) (any, error) {
	_, user, err := nameArg("cron.raw_cron", args, kwargs, "user")
	if err != nil {
		return nil, err
	}
	s, err := cronRawText(c, user)
	if err != nil {
		return nil, fmt.Errorf("cron.raw_cron: %w", err)
	}
	return s, nil
}

func jobMap(j cronJob, special bool) map[string]any {
	m := map[string]any{"cmd": j.Cmd, "identifier": optStr(j.Identifier), "comment": optStr(j.Comment), "commented": j.Commented}
	if special {
		m["spec"] = j.Spec
	} else {
		m["minute"], m["hour"], m["daymonth"], m["month"], m["dayweek"] = j.Minute, j.Hour, j.Daymonth, j.Month, j.Dayweek
	}
	return m
}

func cronListTab(c *Context, args []any, kwargs map[string]any) (any, error) {
	_, user, err := nameArg("cron.list_tab", args, kwargs, "user")
	if err != nil {
		return nil, err
	}
	raw, err := cronRawText(c, user)
	if err != nil {
		return nil, fmt.Errorf("cron.list_tab: %w", err)
	}
	t := parseCronTab(raw)
	out := map[string]any{"pre": []any{}, "crons": []any{}, "special": []any{}, "env": []any{}}
	pre := []any{}
	for _, p := range t.Pre {
		pre = append(pre, p)
	}
	out["pre"] = pre
	crons, special, env := []any{}, []any{}, []any{}
	for _, j := range t.Crons {
		crons = append(crons, jobMap(j, false))
	}
	for _, j := range t.Special {
		special = append(special, jobMap(j, true))
	}
	for _, e := range t.Env {
		env = append(env, map[string]any{"name": e.Name, "value": e.Value})
	}
	out["crons"], out["special"], out["env"] = crons, special, env
	return out, nil
}

// CronJobStatus reports how a job compares with the crontab ("absent",
// "present" or "update"), as Salt's cron state checks in test mode.
func CronJobStatus(c *Context, user, cmd string, fields [5]*string, spec, comment, identifier *string, commented *bool) (string, error) {
	raw, err := cronRawText(c, user)
	if err != nil {
		return "", err
	}
	t := parseCronTab(raw)
	cmd = strings.TrimSuffix(cmd, "\n")
	list := t.Crons
	if spec != nil {
		list = t.Special
	}
	for _, j := range list {
		if !cronMatched(j, cmd, identifier) {
			continue
		}
		ch := needsChangePtr(j.Identifier, identifier) || needsChange(j.Cmd, &cmd) ||
			needsChangePtr(j.Comment, comment) || (commented != nil && j.Commented != *commented)
		if spec != nil {
			ch = ch || needsChange(j.Spec, spec)
		} else {
			cur := [5]string{j.Minute, j.Hour, j.Daymonth, j.Month, j.Dayweek}
			for i := range cur {
				ch = ch || needsChange(cur[i], fields[i])
			}
		}
		if ch {
			return "update", nil
		}
		return "present", nil
	}
	return "absent", nil
}

// CronEnvStatus is CronJobStatus for an environment line.
func CronEnvStatus(c *Context, user, name string, value *string) (string, error) {
	raw, err := cronRawText(c, user)
	if err != nil {
		return "", err
	}
	for _, e := range parseCronTab(raw).Env {
		if e.Name == name {
			if value != nil && e.Value != *value {
				return "update", nil
			}
			return "present", nil
		}
	}
	return "absent", nil
}

var jobNames = []string{"user", "minute", "hour", "daymonth", "month", "dayweek", "cmd", "commented", "comment", "identifier"}

// loadCronList reads user's crontab and picks the list setJob or rmJob
// edits: the timed jobs, or the @special ones; edits through the list
// change the returned table.
func loadCronList(c *Context, fn, user string, special bool) (*cronTab, *[]cronJob, error) {
	raw, err := cronRawText(c, user)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", fn, err)
	}
	t := parseCronTab(raw)
	list := &t.Crons
	if special {
		list = &t.Special
	}
	return &t, list, nil
}

// setJob adds or updates a timed (special=false) or special job.
func setJob(c *Context, fn string, a cronArgs, special bool) (any, error) {
	t, list, err := loadCronList(c, fn, a.user, special)
	if err != nil {
		return nil, err
	}
	status := "new"
	for i, j := range *list {
		if !cronMatched(j, a.cmd, a.identifier) {
			continue
		}
		setID := strp(j.id())
		ch := needsChangePtr(j.Comment, a.comment) || (a.commented != nil && j.Commented != *a.commented) ||
			needsChangePtr(setID, a.identifier)
		if j.Identifier != nil || a.identifier != nil {
			ch = ch || j.Cmd != a.cmd
		}
		if special {
			ch = ch || needsChange(j.Spec, a.spec)
		} else {
			cur := [5]string{j.Minute, j.Hour, j.Daymonth, j.Month, j.Dayweek}
			for k := range cur {
				ch = ch || needsChange(cur[k], a.fields[k])
			}
		}
		if !ch {
			return "present", nil
		}
		// Keep unchanged values, drop the old line and append the new one,
		// as Salt does.
		nj := j
		nj.Cmd = a.cmd
		if special && a.spec != nil {
			nj.Spec = *a.spec
		}
		if !special {
			cur := []*string{&nj.Minute, &nj.Hour, &nj.Daymonth, &nj.Month, &nj.Dayweek}
			for k := range cur {
				if needsChange(*cur[k], a.fields[k]) {
					*cur[k] = *a.fields[k]
				}
			}
		}
		if a.comment != nil {
			nj.Comment = a.comment
		}
		if a.commented != nil {
			nj.Commented = *a.commented
		}
		if a.identifier != nil {
			nj.Identifier = a.identifier
		}
		*list = append((*list)[:i:i], (*list)[i+1:]...)
		*list = append(*list, nj)
		status = "updated"
		break
	}
	if status == "new" {
		nj := cronJob{Cmd: a.cmd, Comment: a.comment, Identifier: a.identifier}
		if a.commented != nil {
			nj.Commented = *a.commented
		}
		if special {
			nj.Spec = *a.spec
		} else {
			dst := []*string{&nj.Minute, &nj.Hour, &nj.Daymonth, &nj.Month, &nj.Dayweek}
			for k := range dst {
				v := "*"
				if a.fields[k] != nil {
					v = *a.fields[k]
				}
				if v == "random" {
					v = randomField(k)
				}
				*dst[k] = v
			}
		}
		*list = append(*list, nj)
	}
	return saveCronTab(c, fn, a.user, *t, status)
}

func cronSetJob(c *Context, args []any, kwargs map[string]any) (any, error) {
	a, err := parseCronArgs("cron.set_job", args, kwargs, jobNames...)
	if err != nil {
		return nil, err
	}
	if a.cmd == "" {
		return nil, fmt.Errorf("cron.set_job missing required argument %q", "cmd")
	}
	return setJob(c, "cron.set_job", a, false)
}

func cronSetSpecial(c *Context, args []any, kwargs map[string]any) (any, error) {
	a, err := parseCronArgs("cron.set_special", args, kwargs, "user", "special", "cmd", "commented", "comment", "identifier")
	if err != nil {
		return nil, err
	}
	if a.spec == nil || a.cmd == "" {
		return nil, fmt.Errorf("cron.set_special missing required argument (special and cmd are required)")
	}
	return setJob(c, "cron.set_special", a, true)
}

// rmJob removes the first matching job; for timed jobs the time fields,
// when given, must match too.
func rmJob(c *Context, fn string, a cronArgs, special bool) (any, error) {
	t, list, err := loadCronList(c, fn, a.user, special)
	if err != nil {
		return nil, err
	}
	idx := -1
	for i, j := range *list {
		if !cronMatched(j, a.cmd, a.identifier) {
			continue
		}
		ok := true
		if special {
			ok = a.spec == nil || j.Spec == *a.spec
		} else {
			cur := [5]string{j.Minute, j.Hour, j.Daymonth, j.Month, j.Dayweek}
			for k := range cur {
				if a.fields[k] != nil && cur[k] != *a.fields[k] {
					ok = false
				}
			}
		}
		if ok {
			idx = i
			break
		}
	}
	if idx < 0 {
		return "absent", nil
	}
	*list = append((*list)[:idx:idx], (*list)[idx+1:]...)
	return saveCronTab(c, fn, a.user, *t, "removed")
}

func cronRmJob(c *Context, args []any, kwargs map[string]any) (any, error) {
	a, err := parseCronArgs("cron.rm_job", args, kwargs, "user", "cmd", "minute", "hour", "daymonth", "month", "dayweek", "identifier")
	if err != nil {
		return nil, err
	}
	return rmJob(c, "cron.rm_job", a, false)
}

func cronRmSpecial(c *Context, args []any, kwargs map[string]any) (any, error) {
	a, err := parseCronArgs("cron.rm_special", args, kwargs, "user", "cmd", "special", "identifier")
	if err != nil {
		return nil, err
	}
	return rmJob(c, "cron.rm_special", a, true)
}

func cronSetEnv(c *Context, args []any, kwargs map[string]any) (any, error) {
	const fn = "cron.set_env"
	kw, user, err := nameArg(fn, args, kwargs, "user", "name", "value")
	if err != nil {
		return nil, err
	}
	if err := Require(fn, kw, "name"); err != nil {
		return nil, err
	}
	name, err1 := Str(kw, "name", "")
	value, err2 := Str(kw, "value", "")
	if e := firstErr(err1, err2); e != nil {
		return nil, fmt.Errorf("%s: %w", fn, e)
	}
	raw, err := cronRawText(c, user)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	t := parseCronTab(raw)
	status := "new"
	for i, e := range t.Env {
		if e.Name == name {
			if e.Value == value {
				return "present", nil
			}
			t.Env = append(t.Env[:i:i], t.Env[i+1:]...)
			status = "updated"
			break
		}
	}
	t.Env = append(t.Env, cronEnv{name, value})
	return saveCronTab(c, fn, user, t, status)
}

func cronRmEnv(c *Context, args []any, kwargs map[string]any) (any, error) {
	const fn = "cron.rm_env"
	kw, user, err := nameArg(fn, args, kwargs, "user", "name")
	if err != nil {
		return nil, err
	}
	if err := Require(fn, kw, "name"); err != nil {
		return nil, err
	}
	name, err := Str(kw, "name", "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	raw, err := cronRawText(c, user)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	t := parseCronTab(raw)
	for i, e := range t.Env {
		if e.Name == name {
			t.Env = append(t.Env[:i:i], t.Env[i+1:]...)
			return saveCronTab(c, fn, user, t, "removed")
		}
	}
	return "absent", nil
}

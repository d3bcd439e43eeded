package states

import (
	"fmt"
	"strings"

	"github.com/brine-cm/brine/pkg/execmod"
)

// Cron is Salt's cron state module: jobs and environment lines in a
// user's crontab, tracked by Salt's SALT_CRON_IDENTIFIER comments so
// crontabs already managed by Salt keep working.
func Cron() *Module {
	return &Module{
		Name: "cron",
		Funcs: map[string]Func{
			"present":     cronPresent,
			"absent":      cronAbsent,
			"env_present": cronEnvPresent,
			"env_absent":  cronEnvAbsent,
		},
		Args: map[string][]string{
			"present":     {"user", "minute", "hour", "daymonth", "month", "dayweek", "comment", "commented", "identifier", "special"},
			"absent":      {"user", "identifier", "special"},
			"env_present": {"user", "value"},
			"env_absent":  {"user"},
		},
	}
}

// cronSpec holds a cron state's arguments, coerced as Salt does
// (time fields are strings, "0" and 0 alike).
type cronSpec struct {
	user       string
	fields     [5]*string
	comment    *string
	identifier *string
	special    *string
	commented  *bool
}

func readCronSpec(a *modArgs, name string, timed bool) cronSpec {
	s := cronSpec{user: a.str("user", "root")}
	opt := func(k string) *string {
		if !a.has(k) {
			return nil
		}
		v := a.str(k, "")
		return &v
	}
	if timed {
		for i, k := range []string{"minute", "hour", "daymonth", "month", "dayweek"} {
			v := a.str(k, "*")
			v = strings.ToLower(v)
			s.fields[i] = &v
		}
		s.comment = opt("comment")
		if a.has("commented") {
			b := a.boolean("commented", false)
			s.commented = &b
		} else {
			b := false
			s.commented = &b
		}
	}
	s.special = opt("special")
	// identifier defaults to the state name, as in Salt.
	if v, ok := a.m["identifier"]; ok && v != nil && v != false {
		id := a.str("identifier", "")
		s.identifier = &id
	} else {
		s.identifier = &name
	}
	return s
}

func (s cronSpec) kwargs(cmd string) map[string]any {
	kw := map[string]any{"user": s.user, "cmd": cmd}
	for i, k := range []string{"minute", "hour", "daymonth", "month", "dayweek"} {
		if s.fields[i] != nil {
			kw[k] = *s.fields[i]
		}
	}
	if s.comment != nil {
		kw["comment"] = *s.comment
	}
	if s.identifier != nil {
		kw["identifier"] = *s.identifier
	}
	if s.special != nil {
		kw["special"] = *s.special
	}
	if s.commented != nil {
		kw["commented"] = *s.commented
	}
	return kw
}

func callStatus(r *Request, fn string, kw map[string]any) (string, error) {
	out, err := r.Exec.Call(fn, nil, kw)
	if err != nil {
		return "", err
	}
	s, _ := out.(string)
	return s, nil
}

func cronPresent(r *Request) Result {
	name := strings.TrimSpace(r.Name)
	out := newOutcome(name)
	a := newModArgs("cron.present", r)
	s := readCronSpec(a, name, true)
	if a.err != nil {
		return argFail(name, a.err)
	}
	if r.Exec == nil {
		return out.failed("cron.present: no execution context")
	}
	if r.Test() {
		status, err := execmod.CronJobStatus(r.Exec, s.user, name, s.fields, s.special, s.comment, s.identifier, s.commented)
		if err != nil {
			return out.failed(err.Error())
		}
		switch status {
		case "absent":
			out.changes[s.user] = name
			return out.pending(fmt.Sprintf("Cron %s is set to be added", name))
		case "update":
			out.changes[s.user] = name
			return out.pending(fmt.Sprintf("Cron %s is set to be updated", name))
		}
		return out.ok(fmt.Sprintf("Cron %s already present", name))
	}
	var data, anti string
	var err error
	kw := s.kwargs(name)
	if s.special == nil {
		anti, err = callStatus(r, "cron.rm_special", map[string]any{"user": s.user, "cmd": name, "identifier": *s.identifier})
		if err == nil {
			data, err = callStatus(r, "cron.set_job", kw)
		}
	} else {
		anti, err = callStatus(r, "cron.rm_job", map[string]any{"user": s.user, "cmd": name, "identifier": *s.identifier})
		if err == nil {
			delete(kw, "minute")
			delete(kw, "hour")
			delete(kw, "daymonth")
			delete(kw, "month")
			delete(kw, "dayweek")
			data, err = callStatus(r, "cron.set_special", kw)
		}
	}
	if err != nil {
		return out.failed(fmt.Sprintf("Cron %s for user %s failed to commit with error \n%v", name, s.user, err))
	}
	record := func() {
		r.Exec.Record("cron.changed", map[string]any{"user": s.user, "name": name, "identifier": *s.identifier, "action": data})
	}
	switch {
	case data == "present" && anti == "removed":
		record()
		return out.ok(fmt.Sprintf("Duplicate Cron %s removed", name))
	case data == "present":
		return out.ok(fmt.Sprintf("Cron %s already present", name))
	case data == "new" && anti == "absent":
		record()
		out.changes[s.user] = name
		return out.ok(fmt.Sprintf("Cron %s added to %s's crontab", name, s.user))
	case data == "new" && anti == "removed":
		record()
		out.changes[s.user] = name
		return out.ok(fmt.Sprintf("Cron %s time specification changed", name))
	case data == "updated":
		record()
		out.changes[s.user] = name
		return out.ok(fmt.Sprintf("Cron %s updated", name))
	}
	return out.failed(fmt.Sprintf("Cron %s for user %s failed to commit with error \n%s", name, s.user, data))
}

func cronAbsent(r *Request) Result {
	name := strings.TrimSpace(r.Name)
	out := newOutcome(name)
	a := newModArgs("cron.absent", r)
	s := readCronSpec(a, name, false)
	if a.err != nil {
		return argFail(name, a.err)
	}
	if r.Exec == nil {
		return out.failed("cron.absent: no execution context")
	}
	if r.Test() {
		var none [5]*string
		status, err := execmod.CronJobStatus(r.Exec, s.user, name, none, s.special, nil, s.identifier, nil)
		if err != nil {
			return out.failed(err.Error())
		}
		if status == "absent" {
			return out.ok(fmt.Sprintf("Cron %s is absent", name))
		}
		out.changes[s.user] = name
		return out.pending(fmt.Sprintf("Cron %s is set to be removed", name))
	}
	kw := map[string]any{"user": s.user, "cmd": name, "identifier": *s.identifier}
	fn := "cron.rm_job"
	if s.special != nil {
		fn = "cron.rm_special"
		kw["special"] = *s.special
	}
	data, err := callStatus(r, fn, kw)
	if err != nil {
		return out.failed(fmt.Sprintf("Cron %s for user %s failed to commit with error %v", name, s.user, err))
	}
	switch data {
	case "absent":
		return out.ok(fmt.Sprintf("Cron %s already absent", name))
	case "removed":
		out.changes[s.user] = name
		r.Exec.Record("cron.changed", map[string]any{"user": s.user, "name": name, "identifier": *s.identifier, "action": "removed"})
		return out.ok(fmt.Sprintf("Cron %s removed from %s's crontab", name, s.user))
	}
	return out.failed(fmt.Sprintf("Cron %s for user %s failed to commit with error %s", name, s.user, data))
}

func cronEnvPresent(r *Request) Result {
	name := r.Name
	out := newOutcome(name)
	a := newModArgs("cron.env_present", r)
	user := a.str("user", "root")
	value := a.str("value", "")
	if a.err != nil {
		return argFail(name, a.err)
	}
	if r.Exec == nil {
		return out.failed("cron.env_present: no execution context")
	}
	if r.Test() {
		status, err := execmod.CronEnvStatus(r.Exec, user, name, &value)
		if err != nil {
			return out.failed(err.Error())
		}
		switch status {
		case "absent":
			out.changes[user] = name
			return out.pending(fmt.Sprintf("Cron env %s is set to be added", name))
		case "update":
			out.changes[user] = name
			return out.pending(fmt.Sprintf("Cron env %s is set to be updated", name))
		}
		return out.ok(fmt.Sprintf("Cron env %s already present", name))
	}
	data, err := callStatus(r, "cron.set_env", map[string]any{"user": user, "name": name, "value": value})
	if err != nil {
		return out.failed(fmt.Sprintf("Cron env %s for user %s failed to commit with error \n%v", name, user, err))
	}
	switch data {
	case "present":
		return out.ok(fmt.Sprintf("Cron env %s already present", name))
	case "new":
		out.changes[user] = name
		r.Exec.Record("cron.changed", map[string]any{"user": user, "env": name, "action": "new"})
		return out.ok(fmt.Sprintf("Cron env %s added to %s's crontab", name, user))
	case "updated":
		out.changes[user] = name
		r.Exec.Record("cron.changed", map[string]any{"user": user, "env": name, "action": "updated"})
		return out.ok(fmt.Sprintf("Cron env %s updated", name))
	}
	return out.failed(fmt.Sprintf("Cron env %s for user %s failed to commit with error \n%s", name, user, data))
}

func cronEnvAbsent(r *Request) Result {
	name := strings.TrimSpace(r.Name)
	out := newOutcome(name)
	a := newModArgs("cron.env_absent", r)
	user := a.str("user", "root")
	if a.err != nil {
		return argFail(name, a.err)
	}
	if r.Exec == nil {
		return out.failed("cron.env_absent: no execution context")
	}
	if r.Test() {
		status, err := execmod.CronEnvStatus(r.Exec, user, name, nil)
		if err != nil {
			return out.failed(err.Error())
		}
		if status == "absent" {
			return out.ok(fmt.Sprintf("Cron env %s is absent", name))
		}
		out.changes[user] = name
		return out.pending(fmt.Sprintf("Cron env %s is set to be removed", name))
	}
	data, err := callStatus(r, "cron.rm_env", map[string]any{"user": user, "name": name})
	if err != nil {
		return out.failed(fmt.Sprintf("Cron env %s for user %s failed to commit with error %v", name, user, err))
	}
	switch data {
	case "absent":
		return out.ok(fmt.Sprintf("Cron env %s already absent", name))
	case "removed":
		out.changes[user] = name
		r.Exec.Record("cron.changed", map[string]any{"user": user, "env": name, "action": "removed"})
		return out.ok(fmt.Sprintf("Cron env %s removed from %s's crontab", name, user))
	}
	return out.failed(fmt.Sprintf("Cron env %s for user %s failed to commit with error %s", name, user, data))
}

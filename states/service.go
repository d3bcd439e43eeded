package states

import (
	"fmt"
	"strconv"
	"time"

	"github.com/brine-cm/brine/pkg/execmod"
)

// Service is Salt's service state module: services running or dead,
// started at boot or not, and restarted (or reloaded) when a watched
// state changes. It calls the service execution module only, so the same
// SLS works on systemd and sysvinit hosts; comments and changes follow
// Salt's service states.
func Service() *Module {
	return &Module{
		Name: "service",
		Funcs: map[string]Func{
			"running":  svcRunning,
			"dead":     svcDead,
			"enabled":  svcEnabled,
			"disabled": svcDisabled,
		},
		ModWatch: svcModWatch,
		Args: map[string][]string{
			"running":  {"enable", "sig", "reload", "full_restart", "init_delay"},
			"dead":     {"enable", "sig", "init_delay"},
			"enabled":  nil,
			"disabled": nil,
		},
	}
}

// svcRet is a state return being built, with the merge Salt does when
// _enable/_disable results are folded into running/dead.
type svcRet struct {
	name    string
	result  *bool
	changes map[string]any
	comment string
}

func newSvcRet(name string) *svcRet {
	t := true
	return &svcRet{name: name, result: &t, changes: map[string]any{}}
}

func (s *svcRet) out() Result {
	return Result{Result: s.result, Changes: s.changes, Comment: s.comment, Name: s.name}
}

// fail ends a state on an error from reading arguments or asking the
// service module, the one way every service state reports those.
func (s *svcRet) fail(err error) Result {
	s.result, s.comment = svcBool(false), err.Error()
	return s.out()
}

func svcBool(b bool) *bool { return &b }

// svcCall calls a boolean service function.
func svcCall(ec *execmod.Context, fn, name string) (bool, error) {
	out, err := ec.Call(fn, []any{name}, nil)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("%s returned %T", fn, out)
	}
	return b, nil
}

// svcStatus calls service.status, with the sig argument when the state
// has one.
func svcStatus(r *Request) (bool, error) {
	kw := map[string]any{}
	if sig, _ := execmod.Str(r.Args, "sig", ""); sig != "" {
		kw["sig"] = sig
	}
	out, err := r.Exec.Call("service.status", []any{r.Name}, kw)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("service.status returned %T", out)
	}
	return b, nil
}

// svcState reads whether the service runs and whether it starts at boot,
// what service.running and service.dead compare before and after acting.
func svcState(r *Request) (running, enabled bool, err error) {
	if running, err = svcStatus(r); err != nil {
		return false, false, err
	}
	if enabled, err = svcCall(r.Exec, "service.enabled", r.Name); err != nil {
		return false, false, err
	}
	return running, enabled, nil
}

// svcEnableArg reads enable: True/False/absent (nil).
func svcEnableArg(r *Request) (*bool, error) {
	if !execmod.Has(r.Args, "enable") {
		return nil, nil
	}
	b, err := execmod.Bool(r.Args, "enable", false)
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// svcToggle is Salt's _enable/_disable: make the boot setting match, and
// phrase the comment from whether the service ended up started (true),
// stopped (false) or untouched (nil). It returns false when the service
// is not available (the caller's result then stands as set here).
func svcToggle(r *Request, ret *svcRet, enable bool, started *bool, result bool) {
	ec := r.Exec
	name := r.Name
	word, fnSet, fnIs, failWhat := "enabled", "service.enable", "service.enabled", "to start at boot"
	if !enable {
		word, fnSet, fnIs, failWhat = "disabled", "service.disable", "service.disabled", "to not start at boot"
	}
	avail, err := svcCall(ec, "service.available", name)
	if err != nil {
		ret.result, ret.comment = svcBool(false), err.Error()
		return
	}
	if !avail {
		ret.result = svcBool(!enable)
		ret.comment = fmt.Sprintf("The named service %s is not available", name)
		return
	}
	ret.result = svcBool(result)
	state := func() string {
		switch {
		case started == nil:
			return "is in the desired state"
		case *started:
			return "is running"
		}
		return "is dead"
	}
	before, err := svcCall(ec, fnIs, name)
	if err != nil {
		ret.result, ret.comment = svcBool(false), err.Error()
		return
	}
	if before {
		if started == nil {
			ret.changes = map[string]any{}
		}
		ret.comment = fmt.Sprintf("Service %s is already %s, and %s", name, word, state())
		return
	}
	if r.Test() {
		ret.result = nil
		ret.comment = fmt.Sprintf("Service %s set to be %s", name, word)
		return
	}
	ok, setErr := svcCall(ec, fnSet, name)
	if setErr == nil && ok {
		after, err := svcCall(ec, fnIs, name)
		if err != nil {
			ret.result, ret.comment = svcBool(false), err.Error()
			return
		}
		ret.changes = map[string]any{}
		if after != before {
			ret.changes[name] = true
		}
		ret.comment = fmt.Sprintf("Service %s has been %s, and %s", name, word, state())
		return
	}
	ret.result = svcBool(false)
	switch {
	case started != nil && *started && enable:
		ret.comment = fmt.Sprintf("Failed when setting service %s %s, but the service is running", name, failWhat)
	case started != nil && *started:
		ret.comment = fmt.Sprintf("Failed when setting service %s %s, and is running", name, failWhat)
	case started == nil:
		ret.comment = fmt.Sprintf("Failed when setting service %s %s, but the service was already running", name, failWhat)
	default:
		ret.comment = fmt.Sprintf("Failed when setting service %s %s, and the service is dead", name, failWhat)
	}
	if setErr != nil {
		ret.comment += ". Additional information follows:\n\n" + setErr.Error()
	}
}

// svcSleep waits init_delay seconds, or less if the run is cancelled.
func svcSleep(r *Request, secs float64) {
	if secs <= 0 {
		return
	}
	t := time.NewTimer(time.Duration(secs * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Exec.Context().Done():
	}
}

// svcUsedEnabled catches the common typo "enabled: True".
func svcUsedEnabled(r *Request, ret *svcRet) bool {
	if _, ok := r.Args["enabled"]; !ok {
		return false
	}
	ret.result = svcBool(false)
	ret.comment = fmt.Sprintf("Service %s uses non-existent option \"enabled\".  Perhaps \"enable\" option was intended?", r.Name)
	return true
}

// svcRunOrDead implements service.running (run) and service.dead.
func svcRunOrDead(r *Request, run bool) Result {
	ec := r.Exec
	name := r.Name
	ret := newSvcRet(name)
	if svcUsedEnabled(r, ret) {
		return ret.out()
	}
	enable, err := svcEnableArg(r)
	if err != nil {
		return ret.fail(err)
	}
	delay, err := execmod.Float(r.Args, "init_delay", 0)
	if err != nil {
		return ret.fail(err)
	}
	avail, err := svcCall(ec, "service.available", name)
	if err != nil {
		return ret.fail(err)
	}
	if !avail {
		verb := "stopped"
		if run {
			verb = "started"
		}
		switch {
		case r.Test():
			ret.result = nil
			ret.comment = fmt.Sprintf("Service %s not present; if created in this state run, it would have been %s", name, verb)
		case run:
			ret.result, ret.comment = svcBool(false), fmt.Sprintf("The named service %s is not available", name)
		default:
			ret.comment = fmt.Sprintf("The named service %s is not available", name)
		}
		return ret.out()
	}
	before, beforeEnabled, err := svcState(r)
	if err != nil {
		return ret.fail(err)
	}
	if before == run {
		if run {
			ret.comment = fmt.Sprintf("The service %s is already running", name)
		} else {
			ret.comment = fmt.Sprintf("The service %s is already dead", name)
		}
		switch {
		case enable != nil && *enable && !beforeEnabled:
			svcToggle(r, ret, true, nil, true)
		case enable != nil && !*enable && beforeEnabled:
			svcToggle(r, ret, false, nil, true)
		}
		return ret.out()
	}
	if r.Test() {
		ret.result = nil
		if run {
			ret.comment = fmt.Sprintf("Service %s is set to start", name)
		} else {
			ret.comment = fmt.Sprintf("Service %s is set to be killed", name)
		}
		return ret.out()
	}
	fn, failed := "service.stop", fmt.Sprintf("Service %s failed to die", name)
	if run {
		fn, failed = "service.start", fmt.Sprintf("Service %s failed to start", name)
	}
	ok, actErr := svcCall(ec, fn, name)
	if actErr != nil || !ok {
		ret.result, ret.comment = svcBool(false), failed
		if actErr != nil {
			ret.comment += ": " + actErr.Error()
		}
		if enable != nil {
			svcToggle(r, ret, *enable, svcBool(!run), false)
		}
		return ret.out()
	}
	svcSleep(r, delay)
	after, afterEnabled, err := svcState(r)
	if err != nil {
		return ret.fail(err)
	}
	if (beforeEnabled != afterEnabled || before != after) && len(ret.changes) == 0 {
		ret.changes[name] = after
	}
	if after == run {
		if run {
			ret.comment = fmt.Sprintf("Started Service %s", name)
		} else {
			ret.comment = fmt.Sprintf("Service %s was killed", name)
		}
	} else {
		ret.result, ret.comment = svcBool(false), failed
	}
	if enable != nil {
		svcToggle(r, ret, *enable, svcBool(after), after == run)
	}
	if delay > 0 {
		ret.comment = fmt.Sprintf("%s\nDelayed return for %s seconds", ret.comment, strconv.FormatFloat(delay, 'f', -1, 64))
	}
	return ret.out()
}

func svcRunning(r *Request) Result { return svcRunOrDead(r, true) }

func svcDead(r *Request) Result { return svcRunOrDead(r, false) }

func svcEnabled(r *Request) Result {
	ret := newSvcRet(r.Name)
	svcToggle(r, ret, true, nil, true)
	return ret.out()
}

func svcDisabled(r *Request) Result {
	ret := newSvcRet(r.Name)
	svcToggle(r, ret, false, nil, true)
	return ret.out()
}

// svcModWatch reacts to a watched state's changes: a running service is
// restarted (reloaded with reload: True, stopped and started with
// full_restart: True), a stopped one started; for service.dead a running
// service is stopped. The watching function arrives as sfun, as in Salt.
func svcModWatch(r *Request) Result {
	ec := r.Exec
	name := r.Name
	ret := newSvcRet(name)
	sfun, _ := execmod.Str(r.Args, "sfun", "")
	reload, err := execmod.Bool(r.Args, "reload", false)
	if err != nil {
		return ret.fail(err)
	}
	fullRestart, err := execmod.Bool(r.Args, "full_restart", false)
	if err != nil {
		return ret.fail(err)
	}
	delay, err := execmod.Float(r.Args, "init_delay", 0)
	if err != nil {
		return ret.fail(err)
	}
	var fn, verb, past string
	switch sfun {
	case "dead":
		running, err := svcStatus(r)
		if err != nil {
			return ret.fail(err)
		}
		if !running {
			ret.comment = "Service is already stopped"
			return ret.out()
		}
		fn, verb, past = "service.stop", "stop", "stopped"
	case "running":
		running, err := svcStatus(r)
		if err != nil {
			return ret.fail(err)
		}
		switch {
		case running && reload:
			fn, verb = "service.reload", "reload"
		case running && fullRestart:
			fn, verb = "service.full_restart", "fully restart"
		case running:
			fn, verb = "service.restart", "restart"
		default:
			fn, verb = "service.start", "start"
		}
		past = verb + "ed"
	default:
		if sfun == "" {
			sfun = "None"
		}
		ret.result = svcBool(false)
		ret.comment = fmt.Sprintf("Unable to trigger watch for service.%s", sfun)
		return ret.out()
	}
	if r.Test() {
		ret.result = nil
		ret.comment = fmt.Sprintf("Service is set to be %s", past)
		return ret.out()
	}
	if fn == "service.start" {
		// Clear a crashed daemon's leftovers (stale pid files) first.
		_, _ = svcCall(ec, "service.stop", name)
	}
	ok, actErr := svcCall(ec, fn, name)
	svcSleep(r, delay)
	ok = ok && actErr == nil
	ret.changes = map[string]any{name: ok}
	ret.result = svcBool(ok)
	if ok {
		ret.comment = fmt.Sprintf("Service %s", past)
	} else {
		ret.comment = fmt.Sprintf("Failed to %s the service", verb)
		if actErr != nil {
			ret.comment += ": " + actErr.Error()
		}
	}
	return ret.out()
}

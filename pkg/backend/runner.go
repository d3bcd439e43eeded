// Package backend holds what the package and service backends share: the
// Runner through which every command goes, so that backends never shell
// out directly and unit tests can replay recorded output from testdata.
// The backends themselves live in pkgmgr (package managers) and svcmgr
// (init systems); each is chosen per host from grains by a can-manage
// probe and a priority, keeping "what" (pkg.installed) apart from "how"
// (apt-get).
package backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
)

// Cmd is one command to run without a shell: the argv and the extra
// environment it needs (DEBIAN_FRONTEND=noninteractive and the like).
type Cmd struct {
	Argv []string
	Env  map[string]string
}

// String renders the command line for logs, errors and recorded lookups.
func (c Cmd) String() string { return strings.Join(c.Argv, " ") }

// Result is what a finished command produced. A non-zero ExitCode is not
// an error at this level: callers decide what a failing exit code means
// (`systemctl is-active` answers with its exit code).
type Result struct {
	Stdout   string
	Stderr   string
	ExitCode int
}

// Runner runs commands. The error is reserved for commands that could not
// be run at all (binary missing, context cancelled); it lets the exec
// modules route commands through `cmd.run_all` and tests replay output.
type Runner interface {
	Run(ctx context.Context, c Cmd) (Result, error)
}

// RunFunc adapts a plain function to Runner.
type RunFunc func(ctx context.Context, c Cmd) (Result, error)

// Run calls f.
func (f RunFunc) Run(ctx context.Context, c Cmd) (Result, error) { return f(ctx, c) }

// ExecRunner runs commands with os/exec, honouring the context, with the
// process environment plus Cmd.Env.
type ExecRunner struct{}

// Run executes the command and waits for it.
func (ExecRunner) Run(ctx context.Context, c Cmd) (Result, error) {
	if len(c.Argv) == 0 {
		return Result{}, errors.New("run: empty command")
	}
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Env = MergeEnv(os.Environ(), c.Env)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && ctx.Err() == nil:
		res.ExitCode = exitErr.ExitCode()
	default:
		return res, fmt.Errorf("run %s: %w", c, err)
	}
	return res, nil
}

// MergeEnv returns base with every key of extra set (replacing existing
// values), so a command sees exactly one value per variable.
func MergeEnv(base []string, extra map[string]string) []string {
	if len(extra) == 0 {
		return base
	}
	out := make([]string, 0, len(base)+len(extra))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, over := extra[k]; !over {
			out = append(out, kv)
		}
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+extra[k])
	}
	return out
}

// Recorded replays recorded command output, so parsing and command
// construction are tested quickly and on any machine, while the real tier
// runs the same code against apt and init scripts. Responses are keyed by
// the command line (Cmd.String); several responses for one command line
// are returned in order, the last one repeating.
type Recorded struct {
	mu        sync.Mutex
	responses map[string][]Result
	calls     []Cmd
}

// NewRecorded returns an empty recorded runner.
func NewRecorded() *Recorded { return &Recorded{responses: map[string][]Result{}} }

// On queues a response for a command line.
func (r *Recorded) On(cmdline string, res Result) *Recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.responses[cmdline] = append(r.responses[cmdline], res)
	return r
}

// OnFile queues a response whose stdout is the content of a file (a
// recording under testdata/), with the given exit code.
func (r *Recorded) OnFile(cmdline, path string, exitCode int) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("recorded: %w", err)
	}
	r.On(cmdline, Result{Stdout: string(b), ExitCode: exitCode})
	return nil
}

// Run returns the next recorded response for the command line, or an
// error naming the command when nothing was recorded for it.
func (r *Recorded) Run(_ context.Context, c Cmd) (Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
	q := r.responses[c.String()]
	if len(q) == 0 {
		return Result{}, fmt.Errorf("recorded: no response for %q", c.String())
	}
	res := q[0]
	if len(q) > 1 {
		r.responses[c.String()] = q[1:]
	}
	return res, nil
}

// Calls returns every command run so far, in order.
func (r *Recorded) Calls() []Cmd {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Cmd(nil), r.calls...)
}

// CommandLines returns Calls as command-line strings, for assertions.
func (r *Recorded) CommandLines() []string {
	var out []string
	for _, c := range r.Calls() {
		out = append(out, c.String())
	}
	return out
}

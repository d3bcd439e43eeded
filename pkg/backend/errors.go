package backend

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNoBackend is wrapped by every "no backend for this host" error so
// callers can tell an unsupported platform from a failing command.
var ErrNoBackend = errors.New("no backend")

// CommandError is a command that ran and failed; it carries the output
// tail so the operator sees apt's or the init script's own explanation.
type CommandError struct {
	Cmd      string
	ExitCode int
	Stderr   string
	Stdout   string
}

// Error prints "CMD: exit status N: <last stderr lines>".
func (e *CommandError) Error() string {
	msg := lastLines(e.Stderr, 5)
	if msg == "" {
		msg = lastLines(e.Stdout, 5)
	}
	if msg == "" {
		return fmt.Sprintf("%s: exit status %d", e.Cmd, e.ExitCode)
	}
	return fmt.Sprintf("%s: exit status %d: %s", e.Cmd, e.ExitCode, msg)
}

// Check turns a non-zero exit code into a *CommandError.
func Check(c Cmd, res Result) error {
	if res.ExitCode == 0 {
		return nil
	}
	return &CommandError{Cmd: c.String(), ExitCode: res.ExitCode, Stderr: res.Stderr, Stdout: res.Stdout}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, "; "))
}

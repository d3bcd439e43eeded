package execmod

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/brine-cm/brine/pkg/grains"
)

// registerTest adds Salt's test module: the functions operators use to
// check that a minion answers and that arguments arrive as sent.
func registerTest(r *Registry) {
	r.Register("test.ping", "Return True if the minion answers.\nCLI Example: brine-master run '*' test.ping", testPing)
	r.Register("test.echo", "Return the string given, to check argument passing.\nCLI Example: brine-master run '*' test.echo 'foo bar'", testEcho)
	r.Register("test.version", "Return the version of brine on the minion.\nCLI Example: brine-master run '*' test.version", testVersion)
	r.Register("test.arg", "Return the positional and keyword arguments received, as {args, kwargs}.\nCLI Example: brine-master run '*' test.arg 1 two three=3", testArg)
	r.Register("test.kwarg", "Return the keyword arguments received.\nCLI Example: brine-master run '*' test.kwarg a=1 b=two", testKwarg)
	r.Register("test.sleep", "Sleep for the given number of seconds, then return True.\nCLI Example: brine-master run '*' test.sleep 20", testSleep)
	r.Register("test.true", "Always return True.\nCLI Example: brine-master run '*' test.true", func(*Context, []any, map[string]any) (any, error) { return true, nil })
	r.Register("test.false", "Always return False.\nCLI Example: brine-master run '*' test.false", func(*Context, []any, map[string]any) (any, error) { return false, nil })
	r.Register("test.exception", "Raise an error with the given message (default \"Test Exception\").\nCLI Example: brine-master run '*' test.exception 'Oh noes!'", testException)
}

func testPing(_ *Context, args []any, kwargs map[string]any) (any, error) {
	return true, nil
}

func testEcho(_ *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("test.echo", args, kwargs, "text")
	if err != nil {
		return nil, err
	}
	if err := Require("test.echo", kw, "text"); err != nil {
		return nil, err
	}
	return kw["text"], nil
}

func testVersion(c *Context, _ []any, _ map[string]any) (any, error) {
	if c != nil {
		if v, ok := c.Grains["saltversion"].(string); ok && v != "" {
			return v, nil
		}
	}
	return grains.CollectOnly(c.Context(), "brine")["saltversion"], nil
}

func testArg(_ *Context, args []any, kwargs map[string]any) (any, error) {
	if args == nil {
		args = []any{}
	}
	return map[string]any{"args": args, "kwargs": publicKwargs(kwargs)}, nil
}

func testKwarg(_ *Context, _ []any, kwargs map[string]any) (any, error) {
	return publicKwargs(kwargs), nil
}

// publicKwargs drops Salt's private "__"-prefixed keys (__pub_jid, ...)
// that the job machinery adds, as test.arg does.
func publicKwargs(kwargs map[string]any) map[string]any {
	out := make(map[string]any, len(kwargs))
	for k, v := range kwargs {
		if !strings.HasPrefix(k, "__") {
			out[k] = v
		}
	}
	return out
}

func testSleep(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("test.sleep", args, kwargs, "length", "fire_event")
	if err != nil {
		return nil, err
	}
	if err := Require("test.sleep", kw, "length"); err != nil {
		return nil, err
	}
	secs, err := Float(kw, "length", 0)
	if err != nil {
		return nil, err
	}
	t := time.NewTimer(time.Duration(secs * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C:
		return true, nil
	case <-c.Context().Done():
		return nil, fmt.Errorf("test.sleep interrupted: %w", c.Context().Err())
	}
}

func testException(_ *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("test.exception", args, kwargs, "message")
	if err != nil {
		return nil, err
	}
	msg, err := Str(kw, "message", "Test Exception")
	if err != nil {
		return nil, err
	}
	return nil, errors.New(msg)
}

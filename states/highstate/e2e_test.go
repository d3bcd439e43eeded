package highstate

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	binDir    string
)

// minionBinary builds bin/brine-minion once per test process into a temp
// dir, so the end-to-end tests run the real program as users do.
func minionBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "brine-minion-e2e")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "brine-minion")
		_, file, _, _ := runtime.Caller(0)
		repo := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-o", binPath, "./minion/cmd/brine-minion")
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		tb.Fatalf("build brine-minion: %v", buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

type callResult struct {
	stdout, stderr string
	code           int
}

func call(t *testing.T, args ...string) callResult {
	t.Helper()
	cmd := exec.Command(minionBinary(t), args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	// An empty config path keeps the host's /etc/brine/minion.yaml out.
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run brine-minion: %v", err)
	}
	return callResult{so.String(), se.String(), code}
}

// demoTree is a small state tree whose states write only under the
// directory given by the demo_root pillar value.
func demoTree(t *testing.T, out string) (salt, pillar string) {
	root := writeTree(t, map[string]string{
		"salt/top.sls": "base:\n  '*':\n    - web\n",
		"salt/web/init.sls": `include:
  - web.files
{% set root = pillar['demo_root'] %}
{{ root }}/site:
  file.directory:
    - makedirs: True
site-built:
  cmd.run:
    - name: touch {{ root }}/site/built
    - creates: {{ root }}/site/built
    - require:
      - file: {{ root }}/site
`,
		"salt/web/files.sls": `{{ pillar['demo_root'] }}/index.html:
  file.managed:
    - contents: hello from {{ grains['id'] }} ({{ pillar['greeting'] }})
    - makedirs: True
`,
		"salt/bad_yaml.sls":  "ok:\n  file.managed:\n    - name: /nowhere\n   - broken: [\n",
		"salt/bad_jinja.sls": "never:\n  file.managed:\n    - name: {{ grains['id'] | nosuchfilter }}\n",
		"salt/fail.sls":      "fails:\n  cmd.run:\n    - name: exit 3\n",
		"pillar/top.sls":     "base:\n  'm*':\n    - demo\n",
		"pillar/demo.sls":    "demo_root: " + out + "\ngreeting: hi\n",
	})
	return filepath.Join(root, "salt"), filepath.Join(root, "pillar")
}

func localArgs(salt, pillar string, extra ...string) []string {
	return append([]string{"call", "--local", "--config", "/dev/null", "--file-root", salt, "--pillar-root", pillar, "--id", "m1"}, extra...)
}

var stateKeyRe = regexp.MustCompile(`^[a-z_]+_\|-.+_\|-.+_\|-[a-z_]+$`)

func TestCallLocalJSON(t *testing.T) {
	out := t.TempDir()
	salt, pillar := demoTree(t, out)
	r := call(t, localArgs(salt, pillar, "--out", "json", "state.apply")...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	var doc map[string]map[string]map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	states := doc["local"]
	if len(states) != 3 {
		t.Fatalf("want 3 states under local, got %d: %s", len(states), r.stdout)
	}
	runNums := map[float64]bool{}
	for key, res := range states {
		if !stateKeyRe.MatchString(key) {
			t.Errorf("key %q is not <mod>_|-<id>_|-<name>_|-<fun>", key)
		}
		for _, field := range []string{"name", "changes", "result", "comment", "__sls__", "__run_num__", "start_time", "duration", "__id__"} {
			if _, ok := res[field]; !ok {
				t.Errorf("%s: field %q missing", key, field)
			}
		}
		if res["result"] != true {
			t.Errorf("%s: result %v", key, res["result"])
		}
		runNums[res["__run_num__"].(float64)] = true
	}
	if len(runNums) != 3 {
		t.Errorf("__run_num__ not distinct: %v", runNums)
	}
	idx := filepath.Join(out, "index.html")
	if b, err := os.ReadFile(idx); err != nil || string(b) != "hello from m1 (hi)\n" {
		t.Fatalf("index.html: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(out, "site", "built")); err != nil {
		t.Fatalf("cmd.run did not run: %v", err)
	}
	if !strings.HasPrefix(r.stdout, "{\n    \"local\": {\n        \"") {
		t.Errorf("not salt-call's 4-space layout:\n%s", r.stdout)
	}
	if sls := states["file_|-"+idx+"_|-"+idx+"_|-managed"]; sls == nil || sls["__sls__"] != "web.files" {
		t.Errorf("index.html state missing or wrong __sls__: %v", sls)
	}

	// A second run changes nothing.
	r = call(t, localArgs(salt, pillar, "--out", "highstate", "state.apply")...)
	if r.code != 0 {
		t.Fatalf("second run exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"local:\n----------\n", "Summary for local\n------------\nSucceeded: 3\nFailed:    0\n------------\nTotal states run:     3\nTotal run time:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("highstate output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "changed=") {
		t.Errorf("second run reported changes:\n%s", r.stdout)
	}
}

func TestCallHighstateOutput(t *testing.T) {
	out := t.TempDir()
	salt, pillar := demoTree(t, out)
	r := call(t, localArgs(salt, pillar, "state.sls", "web.files")...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	idx := filepath.Join(out, "index.html")
	for _, want := range []string{
		"local:\n----------\n          ID: " + idx + "\n    Function: file.managed\n      Result: True\n     Comment: ",
		"     Started: ", "    Duration: ", " ms\n     Changes:   \n              ----------\n",
		"\nSummary for local\n------------\nSucceeded: 1 (changed=1)\nFailed:    0\n------------\nTotal states run:     1\nTotal run time: ",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("missing %q in:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "\033[") {
		t.Error("colours written to a pipe")
	}
}

func TestCallTestModeChangesNothing(t *testing.T) {
	out := filepath.Join(t.TempDir(), "target")
	salt, pillar := demoTree(t, out)
	r := call(t, localArgs(salt, pillar, "--out", "json", "state.apply", "test=True")...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var doc map[string]map[string]map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	nulls := 0
	for key, res := range doc["local"] {
		if res["result"] == false {
			t.Errorf("%s failed in test mode: %v", key, res["comment"])
		}
		if res["result"] == nil {
			nulls++
		}
	}
	if nulls != 3 {
		t.Errorf("want all 3 states pending (result null), got %d:\n%s", nulls, r.stdout)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("test=True touched the target: %v", err)
	}
}

func TestCallFailureExitsOne(t *testing.T) {
	out := t.TempDir()
	salt, pillar := demoTree(t, out)
	r := call(t, localArgs(salt, pillar, "state.sls", "fail")...)
	if r.code != 1 {
		t.Fatalf("failing state: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "      Result: False\n") || !strings.Contains(r.stdout, "Failed:    1\n") {
		t.Errorf("failure not shown:\n%s", r.stdout)
	}
}

func TestCallRenderErrorsApplyNothing(t *testing.T) {
	for _, tc := range []struct{ sls, where string }{
		{"bad_yaml", `bad_yaml\.sls:4:4: `},
		{"bad_jinja", `bad_jinja\.sls:3:31: `},
	} {
		t.Run(tc.sls, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "target")
			salt, pillar := demoTree(t, out)
			r := call(t, localArgs(salt, pillar, "--out", "json", "state.sls", "web,"+tc.sls)...)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
			}
			var doc map[string][]string
			if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
				t.Fatalf("errors are not a list of strings under local: %v\n%s", err, r.stdout)
			}
			joined := strings.Join(doc["local"], "\n")
			if !regexp.MustCompile(tc.where).MatchString(joined) {
				t.Errorf("error does not locate the problem (want %s):\n%s", tc.where, joined)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("something was applied despite the error: %v", err)
			}
			r = call(t, localArgs(salt, pillar, "state.sls", tc.sls)...)
			if r.code != 1 || !strings.Contains(r.stdout, "local:\n    Data failed to compile:\n----------\n    ") {
				t.Errorf("highstate error layout wrong (exit %d):\n%s", r.code, r.stdout)
			}
		})
	}
}

func TestCallUsageErrors(t *testing.T) {
	salt, pillar := demoTree(t, t.TempDir())
	for name, args := range map[string][]string{
		"no function":    localArgs(salt, pillar),
		"bad output":     localArgs(salt, pillar, "--out", "xml", "test.ping"),
		"unknown flag":   localArgs(salt, pillar, "--bogus", "test.ping"),
		"missing config": {"call", "--local", "--config", filepath.Join(t.TempDir(), "none.yaml"), "test.ping"},
		"not module.fn":  localArgs(salt, pillar, "ping"),
	} {
		if r := call(t, args...); r.code != 2 {
			t.Errorf("%s: exit %d, want 2\n%s%s", name, r.code, r.stdout, r.stderr)
		}
	}
	if r := call(t, localArgs(salt, pillar, "nosuch.function")...); r.code != 1 || !strings.Contains(r.stderr, "'nosuch.function' is not available.") {
		t.Errorf("unknown function: exit %d stderr %q", r.code, r.stderr)
	}
}

func TestCallNestedAndArgs(t *testing.T) {
	salt, pillar := demoTree(t, t.TempDir())
	r := call(t, localArgs(salt, pillar, "--out", "json", "test.arg", "1", "[a, b]", "x=True", "y={k: v}", "z=0.5")...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var doc map[string]map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	args, _ := doc["local"]["args"].([]any)
	kw, _ := doc["local"]["kwargs"].(map[string]any)
	if len(args) != 2 || args[0] != 1.0 || len(args[1].([]any)) != 2 {
		t.Errorf("positional args not YAML-typed: %v", args)
	}
	if kw["x"] != true || kw["z"] != 0.5 || kw["y"].(map[string]any)["k"] != "v" {
		t.Errorf("kwargs not YAML-typed: %v", kw)
	}
	r = call(t, localArgs(salt, pillar, "pillar.get", "greeting")...)
	if r.code != 0 || r.stdout != "local:\n    hi\n" {
		t.Errorf("nested output of pillar.get: exit %d %q", r.code, r.stdout)
	}
}

func TestCallSingle(t *testing.T) {
	out := t.TempDir()
	salt, pillar := demoTree(t, out)
	target := filepath.Join(out, "single.txt")
	r := call(t, localArgs(salt, pillar, "--out", "json", "state.single", "file.managed", target, "contents=one line")...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "one line\n" {
		t.Fatalf("state.single did not write: %q %v", b, err)
	}
	if !strings.Contains(r.stdout, `"file_|-`+target+`_|-`+target+`_|-managed"`) {
		t.Errorf("unexpected key:\n%s", r.stdout)
	}
}

func TestGrainsCommand(t *testing.T) {
	r := call(t, "grains", "--config", "/dev/null", "--id", "g1", "--out", "json")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var doc map[string]map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["local"]["id"] != "g1" || doc["local"]["kernel"] != "Linux" {
		t.Errorf("grains: id=%v kernel=%v", doc["local"]["id"], doc["local"]["kernel"])
	}
}

func TestCallPillarOverride(t *testing.T) {
	out := t.TempDir()
	salt, pillar := demoTree(t, out)
	r := call(t, localArgs(salt, pillar, "--out", "json", "state.sls", "web.files", `pillar={"greeting": "yo"}`)...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(out, "index.html")); err != nil || string(b) != "hello from m1 (yo)\n" {
		t.Fatalf("pillar override not used: %q %v", b, err)
	}
	r = call(t, localArgs(salt, pillar, "state.sls", "web.files", "pillar=[1]")...)
	if r.code != 1 || !strings.Contains(r.stdout, "Pillar data must be formatted as a dictionary") {
		t.Fatalf("non-mapping pillar accepted: exit %d\n%s", r.code, r.stdout)
	}
}

// --retcode-passthrough gives salt-call's exit statuses: 2 for a failed
// state, 1 for an SLS that does not render, the command's own status
// for cmd.retcode and cmd.run_all, 0 for success.
func TestCallRetcodePassthrough(t *testing.T) {
	out := t.TempDir()
	salt, pillar := demoTree(t, out)
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"--retcode-passthrough", "state.sls", "fail"}, 2},
		{[]string{"--retcode-passthrough", "state.sls", "web,bad_yaml"}, 1},
		{[]string{"--retcode-passthrough", "cmd.retcode", "exit 3"}, 3},
		{[]string{"--retcode-passthrough", "cmd.run_all", "exit 4"}, 4},
		{[]string{"--retcode-passthrough", "cmd.retcode", "exit 0"}, 0},
		{[]string{"--retcode-passthrough", "test.ping"}, 0},
		{[]string{"cmd.retcode", "exit 3"}, 0},
	} {
		if r := call(t, localArgs(salt, pillar, c.args...)...); r.code != c.want {
			t.Errorf("%v: exit %d, want %d\n%s%s", c.args, r.code, c.want, r.stdout, r.stderr)
		}
	}
}

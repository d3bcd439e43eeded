package fleetsim

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/states"
	"github.com/brine-cm/brine/states/highstate"
)

// osProfile is one operating system a simulated host may run; the mix
// gives grain targeting something realistic to select from.
type osProfile struct {
	os, family, release, codename, kernel string
	major                                 int
}

// profiles are spread so that os_family:RedHat is every third minion
// (index%3 == 1), which the grain-targeted phase relies on.
var profiles = [3][]osProfile{
	{ // index%3 == 0: Debian family
		{"Debian", "Debian", "12", "bookworm", "6.1.0-28-amd64", 12},
		{"Ubuntu", "Debian", "22.04", "jammy", "5.15.0-126-generic", 22},
		{"Ubuntu", "Debian", "24.04", "noble", "6.8.0-49-generic", 24},
		{"Debian", "Debian", "11", "bullseye", "5.10.0-33-amd64", 11},
	},
	{ // index%3 == 1: RedHat family
		{"RedHat", "RedHat", "9.4", "Plow", "5.14.0-427.42.1.el9_4", 9},
		{"Rocky", "RedHat", "9.5", "Blue Onyx", "5.14.0-503.14.1.el9_5", 9},
		{"AlmaLinux", "RedHat", "8.10", "Cerulean Leopard", "4.18.0-553.el8_10", 8},
		{"CentOS Stream", "RedHat", "9", "", "5.14.0-527.el9", 9},
	},
	{ // index%3 == 2: others
		{"SUSE", "Suse", "15.6", "", "6.4.0-150600.23.25-default", 15},
		{"openSUSE", "Suse", "15.6", "Leap", "6.4.0-150600.23.25-default", 15},
		{"Alpine", "Alpine", "3.20.3", "", "6.6.58-0-lts", 3},
		{"Arch", "Arch", "rolling", "", "6.12.1-arch1-1", 0},
	},
}

// Grains returns a plausible grain set for the i-th simulated minion:
// about two dozen keys, as a real host reports, varied by index.
func Grains(id string, i int) map[string]any {
	p := profiles[i%3][(i/3)%len(profiles[i%3])]
	arch := "x86_64"
	if i%4 == 3 {
		arch = "aarch64"
	}
	roles := [][]any{{"web"}, {"db"}, {"cache"}, {"web", "cache"}, {"db", "cache"}}[i%5]
	host, domain, _ := strings.Cut(id, ".")
	ip := fmt.Sprintf("10.%d.%d.%d", (i>>16)&255, (i>>8)&255, i&255)
	return map[string]any{
		"id": id, "host": host, "domain": domain, "fqdn": id, "nodename": host,
		"os": p.os, "os_family": p.family, "osrelease": p.release, "oscodename": p.codename,
		"osmajorrelease": p.major, "osfinger": fmt.Sprintf("%s-%d", p.os, p.major),
		"kernel": "Linux", "kernelrelease": p.kernel, "cpuarch": arch, "osarch": arch,
		"num_cpus": 2 << (i % 4), "mem_total": 2048 << (i % 5), "virtual": []string{"kvm", "VMware", "physical"}[i%3],
		"roles": roles, "ipv4": []any{"127.0.0.1", ip}, "fqdn_ip4": []any{ip},
		"saltversion": "3007.1", "init": "systemd", "shell": "/bin/sh", "locale_info": map[string]any{"defaultlanguage": "en_US", "defaultencoding": "UTF-8"},
		"machine_id": fmt.Sprintf("%032x", uint64(i)*0x9e3779b97f4a7c15),
	}
}

// Registry is what a simulated minion can run: the real test.* functions,
// cmd.run that only echoes, and the real state.* functions over state
// modules that change nothing. Nothing in it touches the host, so
// thousands of minions can share one machine.
func Registry() *execmod.Registry { return newRegistry(nil) }

// newRegistry builds Registry; onPing, when set, is called each time a
// minion runs test.ping, so the simulator can time returns minion-side.
func newRegistry(onPing func()) *execmod.Registry {
	b := execmod.Builtin()
	r := execmod.NewRegistry()
	for _, n := range b.Names() {
		if strings.HasPrefix(n, "test.") || strings.HasPrefix(n, "grains.") {
			e, _ := b.Lookup(n)
			fn := e.Fn
			if n == "test.ping" && onPing != nil {
				fn = func(c *execmod.Context, args []any, kwargs map[string]any) (any, error) {
					onPing()
					return e.Fn(c, args, kwargs)
				}
			}
			r.Register(e.Name, e.Doc, fn)
		}
	}
	r.Register("cmd.run", "Echo the command instead of running it (fleet simulator).", cmdEcho)
	sr := states.NewRegistry()
	sr.Register(states.Test())
	for _, mod := range []string{"pkg", "file", "service", "user", "group", "cmd"} {
		sr.Register(noopStates(mod))
	}
	highstate.Register(r, sr)
	return r
}

// cmdEcho returns what `echo ARGS` would print and nothing else.
func cmdEcho(_ *execmod.Context, args []any, kwargs map[string]any) (any, error) {
	c, _ := kwargs["cmd"].(string)
	if len(args) > 0 {
		c = fmt.Sprint(args[0])
	}
	if rest, ok := strings.CutPrefix(c, "echo "); ok {
		return rest, nil
	}
	return "", nil
}

// noopStates answers every function of a state module with success and
// no changes, as a host already in the desired state would.
func noopStates(name string) *states.Module {
	ok := func(r *states.Request) states.Result {
		t := true
		return states.Result{Result: &t, Changes: map[string]any{}, Comment: "already in the desired state (fleet simulator)"}
	}
	funcs := map[string]states.Func{}
	for _, f := range []string{"installed", "latest", "removed", "managed", "directory", "absent", "symlink", "running", "dead",
		"enabled", "present", "run", "wait"} {
		funcs[f] = ok
	}
	return &states.Module{Name: name, Funcs: funcs, ModWatch: ok}
}

// Tree is the small state tree every simulated minion applies.
var Tree = map[string]string{
	"top.sls": "base:\n  '*':\n    - fleet\n",
	"fleet/init.sls": `{% set pkgname = 'httpd' if grains['os_family'] == 'RedHat' else 'nginx' %}
webserver:
  pkg.installed:
    - name: {{ pkgname }}
  service.running:
    - name: {{ pkgname }}
    - enable: True
    - watch:
      - file: motd
motd:
  file.managed:
    - name: /etc/motd
    - contents: "{{ grains['id'] }} ({{ grains['os'] }} {{ grains['osrelease'] }})"
admins:
  group.present:
    - gid: 2000
  user.present:
    - name: ops
    - groups:
      - admins
    - require:
      - group: admins
checked:
  test.succeed_without_changes:
    - require:
      - pkg: webserver
`,
}

// memFiles serves Tree as salt://; it is what a minion's file client
// fetching from the master's file server would return.
type memFiles map[string]string

func (f memFiles) path(url string) (string, error) {
	p, ok := strings.CutPrefix(url, "salt://")
	if !ok {
		return "", fmt.Errorf("not a salt:// url: %q", url)
	}
	p, _, _ = strings.Cut(p, "?")
	return strings.TrimPrefix(p, "/"), nil
}

func (f memFiles) Read(_ context.Context, url string) ([]byte, error) {
	p, err := f.path(url)
	if err != nil {
		return nil, err
	}
	s, ok := f[p]
	if !ok {
		return nil, fmt.Errorf("%s: file not found", url)
	}
	return []byte(s), nil
}

func (f memFiles) Cache(_ context.Context, url string) (string, error) {
	return "", fmt.Errorf("%s: the fleet simulator keeps no file cache", url)
}

func (f memFiles) ListDirs(context.Context) ([]string, error) {
	seen := map[string]bool{}
	for p := range f {
		if d, _, ok := strings.Cut(p, "/"); ok {
			seen[d] = true
		}
	}
	out := make([]string, 0, len(seen))
	for d := range seen {
		out = append(out, d)
	}
	sort.Strings(out)
	return out, nil
}

func (f memFiles) ListFiles(_ context.Context, prefix string) ([]string, error) {
	var out []string
	for p := range f {
		if strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}

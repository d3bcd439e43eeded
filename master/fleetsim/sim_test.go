package fleetsim

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/brine-cm/brine/pkg/execmod"
)

// TestRunFleetOf50 runs the whole simulator against an in-process master
// and checks structural facts only; timing figures are never asserted.
func TestRunFleetOf50(t *testing.T) {
	const n = 50
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := Run(ctx, Options{Minions: n, Rounds: 3, Sustain: time.Second, WorkDir: t.TempDir(), JobTimeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if res.Minions != n || res.Accepted != n {
		t.Errorf("minions %d accepted %d, want %d", res.Minions, res.Accepted, n)
	}
	if res.PingMissing != 0 || res.CmdMissing != 0 || res.StateMissing != 0 || res.StateFailed != 0 || res.MinionFailures != 0 {
		t.Errorf("missing or failed: %+v", res)
	}
	redhat := 0
	for i := 0; i < n; i++ {
		if Grains("x", i)["os_family"] == "RedHat" {
			redhat++
		}
	}
	if res.CmdTargets != redhat || redhat == 0 {
		t.Errorf("cmd.run reached %d minions, want the %d of os_family RedHat", res.CmdTargets, redhat)
	}
	if res.Master != ModeInProcess || res.Note == "" {
		t.Errorf("master mode %q note %q: the in-process caveat must be stated", res.Master, res.Note)
	}
	if res.MasterRSS <= 0 || res.JobsPerS <= 0 {
		t.Errorf("master_rss_bytes %d jobs_per_s %f: not measured", res.MasterRSS, res.JobsPerS)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"minions", "connect_s", "accept_s", "ping_p50_s", "ping_p90_s", "ping_p99_s", "ping_missing",
		"cmd_p50_s", "state_apply_s", "master_rss_bytes", "master_cpu_s", "jobs_per_s"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
}

func TestGrainsMix(t *testing.T) {
	fam := map[string]int{}
	arch := map[string]int{}
	for i := 0; i < 300; i++ {
		g := Grains("h.example", i)
		fam[g["os_family"].(string)]++
		arch[g["cpuarch"].(string)]++
		if g["id"] != "h.example" || g["host"] != "h" || g["domain"] != "example" {
			t.Fatalf("grains %d: id/host/domain %v %v %v", i, g["id"], g["host"], g["domain"])
		}
	}
	if fam["RedHat"] != 100 {
		t.Errorf("os_family RedHat on %d of 300, want a third: %v", fam["RedHat"], fam)
	}
	if arch["aarch64"] == 0 || arch["x86_64"] == 0 {
		t.Errorf("cpuarch mix %v", arch)
	}
}

func TestRegistryTouchesNothing(t *testing.T) {
	r := Registry()
	ec := &execmod.Context{Ctx: context.Background(), Registry: r, Files: memFiles(Tree),
		Grains: Grains("web1.example", 1), Pillar: map[string]any{}, Opts: map[string]any{}, Saltenv: "base"}
	out, err := r.Call(ec, "cmd.run", []any{"echo hi there"}, nil)
	if err != nil || out != "hi there" {
		t.Fatalf("cmd.run echo: %v %v", out, err)
	}
	if out, _ := r.Call(ec, "cmd.run", []any{"rm -rf /tmp/never"}, nil); out != "" {
		t.Fatalf("cmd.run ran something: %v", out)
	}
	if _, err := r.Call(ec, "file.remove", []any{"/etc/passwd"}, nil); err == nil {
		t.Fatal("file.remove is registered in the simulator")
	}
	ret, err := r.Call(ec, "state.apply", nil, nil)
	if err != nil {
		t.Fatalf("state.apply: %v", err)
	}
	// The master sees the return as JSON, which is what stateOK judges.
	b, _ := json.Marshal(ret)
	var wire any
	if err := json.Unmarshal(b, &wire); err != nil {
		t.Fatal(err)
	}
	if !stateOK(wire) {
		t.Fatalf("state.apply did not return six successful states: %#v", ret)
	}
	for k := range wire.(map[string]any) {
		if strings.HasPrefix(k, "pkg_|-webserver_|-httpd_|-installed") {
			return
		}
	}
	t.Errorf("the RedHat minion's package is not httpd: %v", ret)
}

func TestPct(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	if p := pct(xs, 50); p != 5 {
		t.Errorf("p50 %v", p)
	}
	if p := pct(xs, 90); p != 9 {
		t.Errorf("p90 %v", p)
	}
	if p := pct(xs, 99); p != 10 {
		t.Errorf("p99 %v", p)
	}
	if p := pct(nil, 50); p != 0 {
		t.Errorf("empty %v", p)
	}
}

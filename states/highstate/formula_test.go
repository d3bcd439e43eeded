package highstate

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/fileclient"
	"github.com/brine-cm/brine/pkg/output"
	"github.com/brine-cm/brine/states"
)

// osGrains are the fixed grains the formula fixtures are checked against.
var osGrains = map[string]map[string]any{
	"Debian": {"id": "web1", "os": "Debian", "os_family": "Debian", "osmajorrelease": 12, "kernel": "Linux", "oscodename": "bookworm"},
	"RedHat": {"id": "web1", "os": "Rocky", "os_family": "RedHat", "osmajorrelease": 9, "kernel": "Linux"},
}

// newContext builds what `call --local` builds: grains, pillar compiled
// from pillarRoot, the file roots, the built-in modules plus state.*.
func newContext(t *testing.T, grains map[string]any, fileRoot, pillarRoot string) *execmod.Context {
	t.Helper()
	reg := execmod.Builtin()
	Register(reg, states.Builtin())
	ec := &execmod.Context{
		Ctx:      context.Background(),
		Grains:   grains,
		Pillar:   map[string]any{},
		Opts:     map[string]any{"id": grains["id"], "state_top": "top.sls"},
		Files:    fileclient.NewLocal(fileRoot),
		Registry: reg,
		Saltenv:  "base",
	}
	if pillarRoot != "" {
		p, err := CompilePillar(context.Background(), ec, []string{pillarRoot})
		if err != nil {
			t.Fatalf("compile pillar: %v", err)
		}
		ec.Pillar = p
	}
	return ec
}

// generic turns any value into plain JSON types so expected and actual
// compare structurally.
func generic(t *testing.T, v any) any {
	t.Helper()
	b := output.MarshalJSON(v)
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("re-decode: %v\n%s", err, b)
	}
	return out
}

func TestFormulaShowSLS(t *testing.T) {
	root := filepath.Join("testdata", "formulas")
	for _, osName := range []string{"Debian", "RedHat"} {
		for _, formula := range []string{"nginx", "openssh", "users", "sysctl", "chrony"} {
			t.Run(osName+"/"+formula, func(t *testing.T) {
				ec := newContext(t, osGrains[osName], filepath.Join(root, "salt"), filepath.Join(root, "pillar"))
				ret, err := ec.Call("state.show_sls", []any{formula}, nil)
				if err != nil {
					t.Fatal(err)
				}
				got := generic(t, ret)
				raw, err := os.ReadFile(filepath.Join(root, "expected", osName+"-"+formula+".json"))
				if err != nil {
					t.Fatal(err)
				}
				var want any
				if err := json.Unmarshal(raw, &want); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("state.show_sls %s on %s differs from Salt's\n--- got\n%s\n--- want\n%s",
						formula, osName, output.MarshalJSON(got), output.MarshalJSON(want))
				}
			})
		}
	}
}

func TestFormulaPillar(t *testing.T) {
	root := filepath.Join("testdata", "formulas")
	deb := newContext(t, osGrains["Debian"], filepath.Join(root, "salt"), filepath.Join(root, "pillar")).Pillar
	rh := newContext(t, osGrains["RedHat"], filepath.Join(root, "salt"), filepath.Join(root, "pillar")).Pillar
	if _, ok := deb["openssh"]; !ok {
		t.Errorf("grain-matched pillar missing on Debian: %v", deb)
	}
	if _, ok := rh["openssh"]; ok {
		t.Errorf("Debian-only pillar leaked to RedHat: %v", rh)
	}
	for _, p := range []map[string]any{deb, rh} {
		if p["sysctl"] == nil || p["nginx"] == nil || p["users"] == nil {
			t.Errorf("glob-matched pillar missing: %v", p)
		}
	}
	other := map[string]any{"id": "db1", "os_family": "Debian"}
	ec := newContext(t, other, filepath.Join(root, "salt"), "")
	_, err := CompilePillar(context.Background(), ec, []string{filepath.Join(root, "pillar")})
	if err == nil {
		t.Fatal("a top file naming a missing pillar SLS compiled without error")
	}
	pe, ok := err.(*PillarErrors)
	if !ok || len(pe.List) != 1 || pe.List[0] != "Specified SLS 'nothing_here' in environment 'base' is not available on the salt master" {
		t.Fatalf("unexpected pillar error %#v", err)
	}
}

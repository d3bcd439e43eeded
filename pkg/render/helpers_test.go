package render

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/fileclient"
)

// testRegistry holds the few execution functions templates call in tests.
func testRegistry() *execmod.Registry {
	r := execmod.NewRegistry()
	r.Register("test.echo", "echo the first argument", func(c *execmod.Context, args []any, kw map[string]any) (any, error) {
		if len(args) == 0 {
			return "", nil
		}
		return args[0], nil
	})
	r.Register("test.kwargs", "return the keyword arguments", func(c *execmod.Context, args []any, kw map[string]any) (any, error) {
		return kw, nil
	})
	r.Register("test.args", "return the positional arguments", func(c *execmod.Context, args []any, kw map[string]any) (any, error) {
		return args, nil
	})
	r.Register("test.fail", "always fails", func(c *execmod.Context, args []any, kw map[string]any) (any, error) {
		return nil, errors.New("deliberate failure")
	})
	r.Register("pillar.get", "pillar lookup with a:b paths", func(c *execmod.Context, args []any, kw map[string]any) (any, error) {
		var def any
		if len(args) > 1 {
			def = args[1]
		}
		if d, ok := kw["default"]; ok {
			def = d
		}
		key, _ := args[0].(string)
		var cur any = c.Pillar
		for _, part := range strings.Split(key, ":") {
			m, ok := cur.(map[string]any)
			if !ok {
				return def, nil
			}
			if cur, ok = m[part]; !ok {
				return def, nil
			}
		}
		return cur, nil
	})
	// A simplified grains.filter_by: pick lookup[grains[grain]], merge
	// over lookup["default"], then merge the pillar-derived "merge".
	r.Register("grains.filter_by", "select a dict entry by a grain", func(c *execmod.Context, args []any, kw map[string]any) (any, error) {
		lookup, _ := args[0].(map[string]any)
		grain := "os_family"
		if g, ok := kw["grain"].(string); ok {
			grain = g
		}
		if len(args) > 1 {
			grain, _ = args[1].(string)
		}
		base := kw["base"]
		def, _ := kw["default"].(string)
		if def == "" {
			def = "default"
		}
		key, _ := c.Grains[grain].(string)
		sel, ok := lookup[key]
		if !ok {
			sel = lookup[def]
		}
		out := map[string]any{}
		if b, ok := base.(string); ok {
			if bm, ok := lookup[b].(map[string]any); ok {
				deepMerge(out, bm)
			}
		}
		if sm, ok := sel.(map[string]any); ok {
			deepMerge(out, sm)
		} else if sel != nil {
			return sel, nil
		}
		if m, ok := kw["merge"].(map[string]any); ok {
			deepMerge(out, m)
		}
		return out, nil
	})
	return r
}

func deepMerge(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				deepMerge(dm, sm)
				continue
			}
			cp := map[string]any{}
			deepMerge(cp, sm)
			dst[k] = cp
			continue
		}
		dst[k] = v
	}
}

// tree writes files under a fresh temp dir and returns a Context that
// reads them as the file roots.
func tree(t testing.TB, files map[string]string) *execmod.Context {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &execmod.Context{
		Ctx:      context.Background(),
		Grains:   map[string]any{"os": "Debian", "os_family": "Debian", "id": "web1", "num_cpus": 4, "ipv4": []any{"127.0.0.1", "10.0.0.5"}},
		Pillar:   map[string]any{"nginx": map[string]any{"port": 8080, "lookup": map[string]any{"user": "www"}}, "users": map[string]any{"alice": map[string]any{"uid": 1001}}},
		Opts:     map[string]any{"id": "web1", "file_client": "local"},
		Files:    fileclient.NewLocal(root),
		Registry: testRegistry(),
		Saltenv:  "base",
	}
}

func mustJinja(t *testing.T, ec *execmod.Context, src string) string {
	t.Helper()
	out, err := Jinja(ec, "test/tpl.sls", []byte(src), nil)
	if err != nil {
		t.Fatalf("render %q: %v", src, err)
	}
	return out
}

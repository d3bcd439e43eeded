package render

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkSLS300 renders a 300-state SLS through Jinja and YAML and
// decodes it, the work a minion does per SLS file in a highstate.
func BenchmarkSLS300(b *testing.B) {
	ec := tree(b, map[string]string{
		"bench/map.jinja": "{% set settings = salt['grains.filter_by']({'Debian': {'pkg': 'nginx'}, 'default': {'pkg': 'httpd'}}, merge=pillar.get('nginx', {})) %}",
	})
	var sb strings.Builder
	sb.WriteString("{% from 'bench/map.jinja' import settings with context %}\n")
	sb.WriteString("{% set users = {} %}{% for i in range(100) %}{% do users.update({'user' ~ i: {'uid': 2000 + i}}) %}{% endfor %}\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&sb, "pkg-%d:\n  pkg.installed:\n    - name: {{ settings.pkg }}-%d\n    - version: '1.%d'\n", i, i, i)
	}
	sb.WriteString("{% for name, u in users | dictsort %}\n{{ name }}:\n  user.present:\n    - uid: {{ u.uid }}\n    - groups: {{ ['adm', 'www'] | yaml }}\n{% endfor %}\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&sb, "file-%d:\n  file.managed:\n    - name: /etc/app/%d.conf\n    - mode: 0644\n    - contents: {{ {'port': %d, 'host': grains.id} | json }}\n    - require:\n      - pkg: pkg-%d\n", i, i, 8000+i, i)
	}
	src := []byte(sb.String())
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		node, err := SLS(ec, "bench", "bench/init.sls", src)
		if err != nil {
			b.Fatal(err)
		}
		v, err := Decode(node)
		if err != nil {
			b.Fatal(err)
		}
		if n := len(v.(map[string]any)); n != 300 {
			b.Fatalf("want 300 states, got %d", n)
		}
	}
}

package target

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func ips(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

var fleet = []*Minion{
	{
		ID: "web1.example.com",
		Grains: map[string]any{
			"os": "Debian", "os_family": "Debian", "osrelease": "12",
			"roles":    []any{"web", "cache"},
			"cpu":      map[string]any{"flags": []any{"sse", "avx"}, "model": "Xeon"},
			"num_cpus": 4, "virtual": true, "mem": 2.0,
			"disks":   []any{map[string]any{"name": "sda"}, map[string]any{"name": "sdb"}},
			"kernel":  "Linux",
			"ip4_gws": []string{"10.0.0.1"},
		},
		Pillar: map[string]any{"role": "web", "app": map[string]any{"version": "1.2:3", "port": 8080}, "dc": "Paris"},
		IPs:    ips("10.0.0.5", "fe80::1"),
	},
	{
		ID:     "web2.example.com",
		Grains: map[string]any{"os": "Ubuntu", "os_family": "Debian", "roles": []any{"web"}, "kernel": "Linux", "num_cpus": 2},
		Pillar: map[string]any{"role": "web", "dc": "London"},
		IPs:    ips("10.1.2.3"),
	},
	{
		ID:     "db1.example.com",
		Grains: map[string]any{"os": "CentOS", "os_family": "RedHat", "roles": []any{"db"}, "kernel": "Linux"},
		Pillar: map[string]any{"role": "db", "db": map[string]any{"engine": "postgres"}},
		IPs:    ips("192.168.1.10", "2001:db8::10"),
	},
	{
		ID:     "DB2.Example.com",
		Grains: map[string]any{"os": "Windows", "kernel": "Windows"},
		IPs:    ips("::ffff:192.168.1.11"),
	},
	{ID: "bare"},
}

var testOpts = Options{Nodegroups: map[string]string{
	"webs":    "web*",
	"debian":  "G@os_family:Debian",
	"webdeb":  "N@webs and N@debian",
	"notdb":   "not E@db",
	"loop1":   "N@loop2 or bare",
	"loop2":   "web1* and N@loop1",
	"self":    "N@self",
	"broken":  "web* and",
	"missing": "N@nosuch",
}}

func matchIDs(e Expr) []string {
	var out []string
	for _, m := range fleet {
		if e.Match(m) {
			out = append(out, m.ID)
		}
	}
	sort.Strings(out)
	return out
}

func ids(s string) []string {
	if s == "" {
		return nil
	}
	out := strings.Split(s, " ")
	sort.Strings(out)
	return out
}

var matchCases = []struct {
	kind Kind
	expr string
	want string // space separated ids
}{
	// glob on id: fnmatch, case-sensitive
	{Glob, "*", "web1.example.com web2.example.com db1.example.com DB2.Example.com bare"},
	{Glob, "web*", "web1.example.com web2.example.com"},
	{Glob, "web?.example.com", "web1.example.com web2.example.com"},
	{Glob, "web[12].*", "web1.example.com web2.example.com"},
	{Glob, "web[!1].*", "web2.example.com"},
	{Glob, "web[1-1].*", "web1.example.com"},
	{Glob, "db*", "db1.example.com"},
	{Glob, "DB*", "DB2.Example.com"},
	{Glob, "*.example.com", "web1.example.com web2.example.com db1.example.com"},
	{Glob, "bare", "bare"},
	{Glob, "  bare ", "bare"},
	{Glob, "web[", ""},
	{Glob, "[]b]are", "bare"},
	{Glob, "[!]]are", "bare"},
	{Glob, "[z-a]are", ""},
	{Glob, "*1*", "web1.example.com db1.example.com"},
	// PCRE on id: anchored at the start only (re.match)
	{PCRE, "web", "web1.example.com web2.example.com"},
	{PCRE, "example", ""},
	{PCRE, ".*example", "web1.example.com web2.example.com db1.example.com"},
	{PCRE, ".*Example", "DB2.Example.com"},
	{PCRE, `web\d\.`, "web1.example.com web2.example.com"},
	{PCRE, "(web|db)1", "web1.example.com db1.example.com"},
	{PCRE, "b", "bare"},
	{PCRE, "db1$", ""},
	{PCRE, "ba", "bare"},
	// list: exact ids
	{List, "web1.example.com,bare", "web1.example.com bare"},
	{List, "web1.example.com, db1.example.com ,", "web1.example.com db1.example.com"},
	{List, "web1", ""},
	{List, "web*", ""},
	// grains: glob, case-insensitive, lists, nesting, values with ":"
	{Grain, "os:Debian", "web1.example.com"},
	{Grain, "os:debian", "web1.example.com"},
	{Grain, "OS:Debian", ""},
	{Grain, "os_family:Debian", "web1.example.com web2.example.com"},
	{Grain, "os:*u*", "web2.example.com"},
	{Grain, "roles:web", "web1.example.com web2.example.com"},
	{Grain, "roles:ca*", "web1.example.com"},
	{Grain, "cpu:flags:avx", "web1.example.com"},
	{Grain, "cpu:model:xeon", "web1.example.com"},
	{Grain, "cpu:flags", "web1.example.com"},
	{Grain, "cpu:*", "web1.example.com"},
	{Grain, "num_cpus:4", "web1.example.com"},
	{Grain, "num_cpus:[24]", "web1.example.com web2.example.com"},
	{Grain, "virtual:true", "web1.example.com"},
	{Grain, "mem:2.0", "web1.example.com"},
	{Grain, "disks:name:sdb", "web1.example.com"},
	{Grain, "disks:1:name:sdb", "web1.example.com"},
	{Grain, "disks:0:name:sdb", ""},
	{Grain, "ip4_gws:10.0.0.*", "web1.example.com"},
	{Grain, "*:Windows", "DB2.Example.com"},
	{Grain, "*:avx", ""}, // Salt's "*:" looks one level down only
	{Grain, "*:cache", "web1.example.com"},
	{Grain, "nosuch:*", ""},
	// grain PCRE: anchored at start, case-insensitive
	{GrainPCRE, "os:(Debian|Ubuntu)", "web1.example.com web2.example.com"},
	{GrainPCRE, "os:deb", "web1.example.com"},
	{GrainPCRE, "os:ian", ""},
	{GrainPCRE, "os:.*ian$", "web1.example.com"},
	{GrainPCRE, "roles:c.che", "web1.example.com"},
	{GrainPCRE, `num_cpus:\d`, "web1.example.com web2.example.com"},
	{GrainPCRE, "kernel:(?:lin|win)", "web1.example.com web2.example.com db1.example.com DB2.Example.com"},
	// pillar
	{Pillar, "role:web", "web1.example.com web2.example.com"},
	{Pillar, "app:version:1.2:3", "web1.example.com"},
	{Pillar, "app:version:1.2:*", "web1.example.com"},
	{Pillar, "app:port:8080", "web1.example.com"},
	{Pillar, "db:engine:post*", "db1.example.com"},
	{Pillar, "db:engine", "db1.example.com"},
	{Pillar, "dc:paris", "web1.example.com"},
	{PillarPCRE, "dc:(paris|london)$", "web1.example.com web2.example.com"},
	{PillarPCRE, "role:w", "web1.example.com web2.example.com"},
	// subnet / address
	{IPCIDR, "10.0.0.0/8", "web1.example.com web2.example.com"},
	{IPCIDR, "10.0.0.0/24", "web1.example.com"},
	{IPCIDR, "10.1.2.3", "web2.example.com"},
	{IPCIDR, "192.168.1.0/24", "db1.example.com DB2.Example.com"},
	{IPCIDR, "192.168.1.11", "DB2.Example.com"},
	{IPCIDR, "2001:db8::/32", "db1.example.com"},
	{IPCIDR, "fe80::1", "web1.example.com"},
	{IPCIDR, "172.16.0.0/12", ""},
	// nodegroups
	{Nodegroup, "webs", "web1.example.com web2.example.com"},
	{Nodegroup, "webdeb", "web1.example.com web2.example.com"},
	{Nodegroup, "notdb", "web1.example.com web2.example.com DB2.Example.com bare"},
	// compound
	{Compound, "web*", "web1.example.com web2.example.com"},
	{Compound, "G@os:Debian and web*", "web1.example.com"},
	{Compound, "G@os:Debian or G@os:Ubuntu", "web1.example.com web2.example.com"},
	{Compound, "web* and not G@os:Debian", "web2.example.com"},
	{Compound, "web* not G@os:Debian", "web2.example.com"},
	{Compound, "not web*", "db1.example.com DB2.Example.com bare"},
	{Compound, "not not web*", "web1.example.com web2.example.com"},
	{Compound, "E@db or L@bare", "db1.example.com bare"},
	{Compound, "P@os:(centos|windows)", "db1.example.com DB2.Example.com"},
	{Compound, "I@role:db or J@dc:lon", "db1.example.com web2.example.com"},
	{Compound, "S@192.168.0.0/16 and not E@DB", "db1.example.com"},
	{Compound, "N@webs and G@os:Ubuntu", "web2.example.com"},
	{Compound, "N@webdeb or bare", "web1.example.com web2.example.com bare"},
	{Compound, "G|@app|x or I|@app|version|1.2:3", "web1.example.com"},
	{Compound, "I;@app;port;8080", "web1.example.com"},
	{Compound, "E@web(1|2)", "web1.example.com web2.example.com"},
	{Compound, "(E@web(1|2)) and G@os:Ubuntu", "web2.example.com"},
	// precedence: not > and > or
	{Compound, "bare or web* and G@os:Ubuntu", "web2.example.com bare"},
	{Compound, "( bare or web* ) and G@os:Ubuntu", "web2.example.com"},
	{Compound, "(bare or web*) and G@os:Ubuntu", "web2.example.com"},
	{Compound, "web1* or web2* and not G@os:Ubuntu", "web1.example.com"},
	{Compound, "not web* or bare", "db1.example.com DB2.Example.com bare"},
	{Compound, "not ( web* or bare )", "db1.example.com DB2.Example.com"},
	{Compound, "not web* and not bare", "db1.example.com DB2.Example.com"},
	{Compound, "((web1*)) or ((((db*))))", "web1.example.com db1.example.com"},
	{Compound, "a or b or bare or c", "bare"},
	{Compound, "* and * and not bare and not DB2*", "web1.example.com web2.example.com db1.example.com"},
	{Compound, "\tweb1*\n", "web1.example.com"},
}

func TestMatch(t *testing.T) {
	for _, tc := range matchCases {
		t.Run(tc.kind.String()+"/"+tc.expr, func(t *testing.T) {
			e, err := Parse(tc.kind, tc.expr, testOpts)
			if err != nil {
				t.Fatalf("Parse(%s, %q): %v", tc.kind, tc.expr, err)
			}
			got := matchIDs(e)
			if want := ids(tc.want); !reflect.DeepEqual(got, want) {
				t.Fatalf("Parse(%s, %q) matched %v, want %v (tree %s)", tc.kind, tc.expr, got, want, e)
			}
			// The canonical form reparses to an expression matching the same set.
			e2, err := Parse(Compound, e.String(), testOpts)
			if err != nil {
				if tc.kind == Glob { // a bare glob is not always a compound word
					return
				}
				t.Fatalf("reparse %q: %v", e.String(), err)
			}
			if got2 := matchIDs(e2); !reflect.DeepEqual(got2, got) {
				t.Fatalf("reparse of %q matched %v, want %v", e.String(), got2, got)
			}
		})
	}
}

var errorCases = []struct {
	kind Kind
	expr string
	col  int
	msg  string // substring of Msg
}{
	{Glob, "", 1, "empty expression"},
	{Compound, "   ", 1, "empty expression"},
	{PCRE, "web(", 1, "missing closing )"},
	{PCRE, "web[", 4, "missing closing ]"},
	{PCRE, "a(?<=b)", 2, "invalid named capture"},
	{Compound, "web* and E@db(", 12, "invalid regular expression"},
	{Compound, "G@os:Debian and P@os:(", 22, "invalid regular expression"},
	{GrainPCRE, "os:*", 4, "missing argument to repetition operator"},
	{Grain, "os", 1, "needs a key and a value"},
	{Compound, "web* or G@os", 11, "needs a key and a value"},
	{Pillar, ":x", 1, "empty key"},
	{List, " , ,", 2, "empty list"},
	{IPCIDR, "10.0.0.1/8", 1, "host bits set"},
	{IPCIDR, "10.0.0.300", 1, "invalid IP/CIDR"},
	{Compound, "web* and S@nonsense", 12, "invalid IP/CIDR"},
	{Compound, "( web*", 1, "unbalanced parentheses"},
	{Compound, "web* )", 6, "unbalanced parentheses"},
	{Compound, "(web* or db*", 1, "never closed"},
	{Compound, "web* or db*)", 12, "no matching"},
	{Compound, "( web* ) )", 10, "no matching"},
	{Compound, "( )", 3, "empty parentheses"},
	{Compound, "X@foo", 1, "unknown prefix \"X@\""},
	{Compound, "web* and Q@foo", 10, "unknown prefix \"Q@\""},
	{Compound, "R@%cluster", 1, "not supported"},
	{Compound, "G@", 1, "empty pattern"},
	{Compound, "web* and L@", 10, "empty pattern"},
	{Nodegroup, "nosuch", 1, "unknown nodegroup \"nosuch\""},
	{Compound, "web* or N@nosuch", 11, "unknown nodegroup \"nosuch\""},
	{Nodegroup, "missing", 1, "unknown nodegroup \"nosuch\""},
	{Nodegroup, "loop1", 1, "nodegroup cycle: loop1 -> loop2 -> loop1"},
	{Compound, "bare or N@self", 11, "nodegroup cycle: self -> self"},
	{Nodegroup, "broken", 1, "dangling operator \"and\""},
	{Compound, "web* and", 6, "dangling operator \"and\""},
	{Compound, "web* or", 6, "dangling operator \"or\""},
	{Compound, "web* and not", 10, "dangling operator \"not\""},
	{Compound, "not", 1, "dangling operator \"not\""},
	{Compound, "and web*", 1, "cannot start with operator \"and\""},
	{Compound, "or", 1, "cannot start with operator \"or\""},
	{Compound, "web* and or db*", 10, "operator \"or\" cannot follow \"and\""},
	{Compound, "( and web* )", 3, "cannot follow \"(\""},
	{Compound, "( web* and )", 8, "dangling operator \"and\""},
	{Compound, "web* db*", 6, "missing operator before \"db*\""},
	{Compound, "web* ( db* )", 6, "missing operator before \"(\""},
	{Compound, "é and ( x", 7, "never closed"},
	{Compound, strings.Repeat("( ", 300) + "x" + strings.Repeat(" )", 300), 513, "nested too deeply"},
	{Compound, strings.Repeat("not ", 300) + "x", 1025, "nested too deeply"},
}

func TestErrors(t *testing.T) {
	for _, tc := range errorCases {
		t.Run(tc.kind.String()+"/"+tc.expr, func(t *testing.T) {
			e, err := Parse(tc.kind, tc.expr, testOpts)
			if err == nil {
				t.Fatalf("Parse(%s, %q) = %s, want error", tc.kind, tc.expr, e)
			}
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("error %v is %T, want *Error", err, err)
			}
			if te.Expr != tc.expr {
				t.Errorf("Expr = %q, want %q", te.Expr, tc.expr)
			}
			if te.Col != tc.col {
				t.Errorf("Col = %d, want %d (%v)", te.Col, tc.col, err)
			}
			if !strings.Contains(te.Msg, tc.msg) {
				t.Errorf("Msg = %q, want it to contain %q", te.Msg, tc.msg)
			}
			wantPrefix := fmt.Sprintf("target %q: column %d: ", tc.expr, tc.col)
			if !strings.HasPrefix(err.Error(), wantPrefix) {
				t.Errorf("Error() = %q, want prefix %q", err.Error(), wantPrefix)
			}
		})
	}
}

func TestKinds(t *testing.T) {
	for k := Glob; k <= Compound; k++ {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", k.String(), got, err, k)
		}
	}
	if _, err := ParseKind("regex"); err == nil {
		t.Error("ParseKind(\"regex\") succeeded, want error")
	}
	kindOf := map[string]Kind{
		"web*":                 Glob,
		"E@web":                PCRE,
		"L@a,b":                List,
		"G@os:Debian":          Grain,
		"P@os:Deb":             GrainPCRE,
		"I@role:web":           Pillar,
		"J@role:w":             PillarPCRE,
		"S@10.0.0.0/8":         IPCIDR,
		"N@webs":               Nodegroup,
		"( G@os:Debian )":      Grain,
		"web* and G@os:Debian": Compound,
		"not web*":             Compound,
		"a or b":               Compound,
	}
	for expr, want := range kindOf {
		e, err := Parse(Compound, expr, testOpts)
		if err != nil {
			t.Fatalf("Parse(%q): %v", expr, err)
		}
		if got := KindOf(e); got != want {
			t.Errorf("KindOf(%q) = %v, want %v", expr, got, want)
		}
	}
}

func TestLiterals(t *testing.T) {
	cases := []struct {
		kind          Kind
		expr          string
		lits, cands   string
		litOK, candOK bool
	}{
		{List, "b,a,b", "a b", "a b", true, true},
		{Glob, "web1.example.com", "web1.example.com", "web1.example.com", true, true},
		{Glob, "web*", "", "", false, false},
		{Compound, "L@a,b or c", "a b c", "a b c", true, true},
		{Compound, "L@a,b and L@b,c", "b", "b", true, true},
		{Compound, "L@a,b and G@os:Debian", "", "a b", false, true},
		{Compound, "G@os:Debian and ( x or y )", "", "x y", false, true},
		{Compound, "L@a,b or G@os:Debian", "", "", false, false},
		{Compound, "not L@a", "", "", false, false},
		{Compound, "web[", "web[", "web[", true, true},
		{Nodegroup, "webs", "", "", false, false},
	}
	for _, tc := range cases {
		e, err := Parse(tc.kind, tc.expr, testOpts)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.expr, err)
		}
		got, ok := Literals(e)
		if ok != tc.litOK || !reflect.DeepEqual(got, ids(tc.lits)) {
			t.Errorf("Literals(%q) = %v, %v; want %v, %v", tc.expr, got, ok, ids(tc.lits), tc.litOK)
		}
		got, ok = Candidates(e)
		if ok != tc.candOK || !reflect.DeepEqual(got, ids(tc.cands)) {
			t.Errorf("Candidates(%q) = %v, %v; want %v, %v", tc.expr, got, ok, ids(tc.cands), tc.candOK)
		}
	}
}

func TestStringCanonical(t *testing.T) {
	cases := map[string]string{
		"(web* or db*) and not G@os:Debian": "( web* or db* ) and not G@os:Debian",
		"web* not db*":                      "web* and not db*",
		"G|@a|b":                            "G|@a|b",
		"L@a,,b,a":                          "L@a,b",
		"N@webs or x":                       "N@webs or x",
	}
	for in, want := range cases {
		e, err := Parse(Compound, in, testOpts)
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if got := e.String(); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
	g, err := Parse(Grain, "os:Debian", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if g.String() != "G@os:Debian" {
		t.Errorf("grain String = %q", g.String())
	}
}

func TestDelimiterOption(t *testing.T) {
	e, err := Parse(Grain, "cpu|flags|sse", Options{Delimiter: "|"})
	if err != nil {
		t.Fatal(err)
	}
	if got := matchIDs(e); !reflect.DeepEqual(got, []string{"web1.example.com"}) {
		t.Fatalf("matched %v", got)
	}
	if e.Match(nil) {
		t.Fatal("nil minion matched")
	}
}

func TestGlobAgainstRegexpTranslation(t *testing.T) {
	// Spot checks of fnmatch edge cases, with the result CPython gives.
	cases := []struct {
		pat, s string
		want   bool
	}{
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"*", "", true},
		{"?", "", false},
		{"?", "é", true},
		{"[a-c-e]x", "-x", true},
		{"[a-c-e]x", "dx", false},
		{"[a-c-e]x", "ex", true},
		{"[-a]", "-", true},
		{"[a-]", "-", true},
		{"[!a-c]", "d", true},
		{"[!a-c]", "b", false},
		{`\*`, `\abc`, true},
		{"[\\]", "\\", true},
		{"a[", "a[", true},
		{"[!]", "[!]", true},
		{"*.com", "x.y.com", true},
		{"**a", "bba", true},
	}
	for _, tc := range cases {
		if got := compileGlob(tc.pat, false).match(tc.s); got != tc.want {
			t.Errorf("fnmatch(%q, %q) = %v, want %v", tc.s, tc.pat, got, tc.want)
		}
	}
}

func BenchmarkCompound10k(b *testing.B) {
	oses := []string{"Debian", "Ubuntu", "CentOS", "Alpine"}
	minions := make([]*Minion, 10000)
	for i := range minions {
		minions[i] = &Minion{
			ID: fmt.Sprintf("%s%05d.dc%d.example.com", []string{"web", "db", "cache"}[i%3], i, i%4),
			Grains: map[string]any{
				"os": oses[i%4], "roles": []any{"base", []string{"web", "db", "cache"}[i%3]},
				"cpu": map[string]any{"model": "Xeon"},
			},
			Pillar: map[string]any{"env": []string{"prod", "staging"}[i%2]},
			IPs:    []netip.Addr{netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})},
		}
	}
	e, err := Parse(Compound, "( G@os:Debian or G@os:Ubuntu ) and web* and not I@env:staging or ( S@10.0.0.0/24 and E@db )", Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		n = 0
		for _, m := range minions {
			if e.Match(m) {
				n++
			}
		}
	}
	if n == 0 {
		b.Fatal("matched nothing")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(minions)), "ns/minion")
}

package grains

import (
	"context"
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestCollectHost checks the grains of the machine the test runs on
// against what its own files say.
func TestCollectHost(t *testing.T) {
	g := Collect(context.Background(), nil)
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		t.Skipf("no /etc/os-release on this host: %v", err)
	}
	rel := ParseOSRelease(data)
	want := OSGrains(rel)
	for _, k := range []string{"os", "os_family", "osrelease", "osfullname", "oscodename"} {
		if g[k] != want[k] {
			t.Errorf("grain %s = %v, want %v", k, g[k], want[k])
		}
	}
	if rel["ID"] == "debian" && (g["os"] != "Debian" || g["os_family"] != "Debian") {
		t.Errorf("debian host reported os=%v os_family=%v", g["os"], g["os_family"])
	}
	if g["kernel"] != "Linux" {
		t.Errorf("kernel = %v", g["kernel"])
	}
	if n, ok := g["num_cpus"].(int); !ok || n < 1 {
		t.Errorf("num_cpus = %v", g["num_cpus"])
	}
	if m, ok := g["mem_total"].(int); !ok || m < 16 {
		t.Errorf("mem_total = %v", g["mem_total"])
	}
	ipv4, _ := g["ipv4"].([]any)
	if !contains(ipv4, "127.0.0.1") {
		t.Errorf("ipv4 %v lacks loopback", ipv4)
	}
	lo, _ := g["ip4_interfaces"].(map[string]any)["lo"].([]any)
	if !contains(lo, "127.0.0.1") {
		t.Errorf("ip4_interfaces[lo] = %v", lo)
	}
	host, _ := os.Hostname()
	if g["nodename"] != host || g["localhost"] != host {
		t.Errorf("nodename = %v, localhost = %v, want %s", g["nodename"], g["localhost"], host)
	}
	if g["id"] != g["fqdn"] {
		t.Errorf("id %v should default to fqdn %v", g["id"], g["fqdn"])
	}
	if !strings.HasPrefix(g["fqdn"].(string), g["host"].(string)) {
		t.Errorf("host %v is not the first label of fqdn %v", g["host"], g["fqdn"])
	}
	if g["pid"] != os.Getpid() || g["uid"] != os.Getuid() {
		t.Errorf("pid/uid = %v/%v", g["pid"], g["uid"])
	}
	if v, _ := g["virtual"].(string); v == "" {
		t.Error("virtual grain empty")
	}
	if _, err := os.Stat("/.dockerenv"); err == nil && g["virtual"] != "container" {
		t.Errorf("/.dockerenv present but virtual = %v", g["virtual"])
	}
	if _, err := os.Stat("/run/systemd/system"); err == nil && g["init"] != "systemd" {
		t.Errorf("systemd running but init = %v", g["init"])
	}
	if mid := readTrim("/etc/machine-id"); mid != "" && g["machine_id"] != mid {
		t.Errorf("machine_id = %v, want %s", g["machine_id"], mid)
	}
}

func contains(l []any, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

func TestStaticOverride(t *testing.T) {
	static := map[string]any{
		"id":     "web1.example.com",
		"os":     "Custom",
		"master": "salt.example.com",
		"roles":  []any{"web"},
		"ip4_interfaces": map[string]any{
			"eth9": []any{"10.9.9.9"},
		},
	}
	g := Collect(context.Background(), static)
	if g["id"] != "web1.example.com" || g["os"] != "Custom" || g["master"] != "salt.example.com" {
		t.Errorf("static not applied: id=%v os=%v master=%v", g["id"], g["os"], g["master"])
	}
	ifs := g["ip4_interfaces"].(map[string]any)
	if _, ok := ifs["lo"]; !ok {
		t.Errorf("deep merge dropped detected interfaces: %v", ifs)
	}
	if !reflect.DeepEqual(ifs["eth9"], []any{"10.9.9.9"}) {
		t.Errorf("deep merge lost static interface: %v", ifs)
	}
	if g["server_id"] != ServerID("web1.example.com") {
		t.Errorf("server_id %v not derived from static id", g["server_id"])
	}
	if ServerID("a") == ServerID("b") || ServerID("a") < 0 || ServerID("a") >= 1<<31 {
		t.Error("ServerID not a spread 31-bit value")
	}
}

const debian12 = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`

const ubuntu2404 = `PRETTY_NAME="Ubuntu 24.04.1 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION="24.04.1 LTS (Noble Numbat)"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=noble
LOGO=ubuntu-logo
`

const rocky9 = `NAME="Rocky Linux"
VERSION="9.3 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
ANSI_COLOR="0;32"
`

const alpine319 = `NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.19.1
PRETTY_NAME="Alpine Linux v3.19"
HOME_URL="https://alpinelinux.org/"
`

const derivative = `NAME="Example OS"
ID=exampleos
ID_LIKE="ubuntu debian"
VERSION_ID="1.2"
`

const mint203 = `NAME="Linux Mint"
VERSION="20.3 (Una)"
ID=linuxmint
ID_LIKE=ubuntu
PRETTY_NAME="Linux Mint 20.3"
VERSION_ID="20.3"
VERSION_CODENAME=una
UBUNTU_CODENAME=focal
`

const pop2004 = `NAME="Pop!_OS"
VERSION="20.04 LTS"
ID=pop
ID_LIKE="ubuntu debian"
PRETTY_NAME="Pop!_OS 20.04 LTS"
VERSION_ID="20.04"
VERSION_CODENAME=focal
`

func TestOSGrains(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want map[string]any
	}{
		{"debian12", debian12, map[string]any{
			"os": "Debian", "os_family": "Debian", "osfullname": "Debian GNU/Linux", "osrelease": "12",
			"osmajorrelease": 12, "oscodename": "bookworm", "osfinger": "Debian-12",
			"osrelease_info": []any{12},
		}},
		{"ubuntu2404", ubuntu2404, map[string]any{
			"os": "Ubuntu", "os_family": "Debian", "osfullname": "Ubuntu", "osrelease": "24.04",
			"osmajorrelease": 24, "oscodename": "noble", "osfinger": "Ubuntu-24.04",
			"osrelease_info": []any{24, 4},
		}},
		{"rocky9", rocky9, map[string]any{
			"os": "Rocky", "os_family": "RedHat", "osfullname": "Rocky Linux", "osrelease": "9.3",
			"osmajorrelease": 9, "oscodename": "Blue Onyx", "osfinger": "Rocky Linux-9",
			"osrelease_info": []any{9, 3},
		}},
		{"alpine", alpine319, map[string]any{
			"os": "Alpine", "os_family": "Alpine", "osfullname": "Alpine Linux", "osrelease": "3.19.1",
			"osmajorrelease": 3, "oscodename": "", "osfinger": "Alpine Linux-3",
			"osrelease_info": []any{3, 19, 1},
		}},
		{"derivative", derivative, map[string]any{
			"os": "Exampleos", "os_family": "Debian", "osrelease": "1.2", "osmajorrelease": 1,
			"osfinger": "Example OS-1",
		}},
		{"mint", mint203, map[string]any{
			"os": "Mint", "os_family": "Debian", "osfullname": "Linux Mint", "oscodename": "una",
			"osrelease": "20.3", "osfinger": "Linux Mint-20",
		}},
		{"pop", pop2004, map[string]any{
			"os": "Pop", "os_family": "Debian", "osfullname": "Pop!_OS", "osfinger": "Pop!_OS-20.04",
		}},
		{"centos-stream", "NAME=\"CentOS Stream\"\nVERSION=\"9\"\nID=\"centos\"\nVERSION_ID=\"9\"\n", map[string]any{
			"os": "CentOS Stream", "os_family": "RedHat", "osfinger": "CentOS Stream-9",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Parse from a real file, as the collector does.
			p := t.TempDir() + "/os-release"
			if err := os.WriteFile(p, []byte(c.src), 0o644); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			got := OSGrains(ParseOSRelease(data))
			for k, v := range c.want {
				if !reflect.DeepEqual(got[k], v) {
					t.Errorf("%s = %#v, want %#v", k, got[k], v)
				}
			}
		})
	}
}

func TestParseOSReleaseQuoting(t *testing.T) {
	got := ParseOSRelease([]byte("# comment\nA=\"x \\\"y\\\"\"\nB='z'\nC=plain\n\nbroken line\n"))
	want := map[string]string{"A": `x "y"`, "B": "z", "C": "plain"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestFQDNFromHosts(t *testing.T) {
	hosts := "127.0.0.1 localhost\n# 10.0.0.1 web1.wrong web1\n10.0.0.2 web1.example.com web1 # primary\n"
	if got := fqdnFromHosts([]byte(hosts), "web1"); got != "web1.example.com" {
		t.Errorf("fqdn = %q", got)
	}
	if got := fqdnFromHosts([]byte(hosts), "db1"); got != "db1" {
		t.Errorf("fqdn of unknown = %q", got)
	}
}

func TestNames(t *testing.T) {
	n := Names()
	if len(n) < 5 || n[0] != "kernel" {
		t.Fatalf("names = %v", n)
	}
	g := CollectOnly(context.Background(), "mem")
	if _, ok := g["mem_total"]; !ok || len(g) > 2 {
		t.Fatalf("CollectOnly(mem) = %v", g)
	}
}

func BenchmarkCollect(b *testing.B) {
	ctx := context.Background()
	static := map[string]any{"id": "bench"}
	for b.Loop() {
		Collect(ctx, static)
	}
}

func BenchmarkCollector(b *testing.B) {
	ctx := context.Background()
	for _, n := range Names() {
		b.Run(n, func(b *testing.B) {
			for b.Loop() {
				CollectOnly(ctx, n)
			}
		})
	}
}

func TestParseResolvConf(t *testing.T) {
	got := ParseResolvConf([]byte("# generated\nnameserver 10.0.0.2\nnameserver fd00::53\nnameserver bogus\nsearch a.example b.example\ndomain a.example\noptions ndots:2 rotate\n"))
	want := map[string]any{
		"nameservers": []any{"10.0.0.2", "fd00::53"}, "ip4_nameservers": []any{"10.0.0.2"}, "ip6_nameservers": []any{"fd00::53"},
		"search": []any{"a.example", "b.example"}, "domain": "a.example", "options": []any{"ndots:2", "rotate"}, "sortlist": []any{},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

func TestVersionInfo(t *testing.T) {
	if got := versionInfo("3007.1"); !reflect.DeepEqual(got, []any{3007, 1}) {
		t.Errorf("3007.1 -> %v", got)
	}
	if got := versionInfo("0.4.0-dev"); !reflect.DeepEqual(got, []any{0, 4, 0}) {
		t.Errorf("0.4.0-dev -> %v", got)
	}
	g := Collect(context.Background(), nil)
	for _, k := range []string{"dns", "fqdn_ip4", "selinux", "locale_info", "saltversioninfo"} {
		if _, ok := g[k]; !ok {
			t.Errorf("grain %s missing", k)
		}
	}
}

func TestParseKernelParams(t *testing.T) {
	got := ParseKernelParams("BOOT_IMAGE=/vmlinuz root=\"LABEL=my root\" ro quiet console=ttyS0,115200\n")
	want := []any{
		[]any{"BOOT_IMAGE", "/vmlinuz"}, []any{"root", "LABEL=my root"}, []any{"ro", nil},
		[]any{"quiet", nil}, []any{"console", "ttyS0,115200"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

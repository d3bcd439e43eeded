package grains

import (
	"context"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// ParseResolvConf reads resolv.conf into Salt's dns grain: nameservers
// (all, and split by family), search domains, domain, options, sortlist.
func ParseResolvConf(data []byte) map[string]any {
	ns, ns4, ns6 := []any{}, []any{}, []any{}
	search, options, sortlist := []any{}, []any{}, []any{}
	domain := ""
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			a, err := netip.ParseAddr(f[1])
			if err != nil {
				continue
			}
			ns = append(ns, a.String())
			if a.Is4() {
				ns4 = append(ns4, a.String())
			} else {
				ns6 = append(ns6, a.String())
			}
		case "search":
			search = search[:0]
			for _, d := range f[1:] {
				search = append(search, d)
			}
		case "domain":
			domain = f[1]
		case "options":
			for _, o := range f[1:] {
				options = append(options, o)
			}
		case "sortlist":
			for _, o := range f[1:] {
				sortlist = append(sortlist, o)
			}
		}
	}
	return map[string]any{
		"nameservers": ns, "ip4_nameservers": ns4, "ip6_nameservers": ns6,
		"search": search, "domain": domain, "options": options, "sortlist": sortlist,
	}
}

func collectDNS(_ context.Context, g map[string]any) {
	if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		g["dns"] = ParseResolvConf(b)
	}
}

// collectFQDNIPs answers fqdn_ip4/fqdn_ip6 from /etc/hosts rather than a
// DNS query, so collection never blocks on a slow resolver.
func collectFQDNIPs(_ context.Context, g map[string]any) {
	fqdn, _ := g["fqdn"].(string)
	v4, v6 := []any{}, []any{}
	if b, err := os.ReadFile("/etc/hosts"); err == nil && fqdn != "" {
		for _, line := range strings.Split(string(b), "\n") {
			if i := strings.IndexByte(line, '#'); i >= 0 {
				line = line[:i]
			}
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			a, err := netip.ParseAddr(f[0])
			if err != nil {
				continue
			}
			for _, n := range f[1:] {
				if n != fqdn {
					continue
				}
				if a.Is4() {
					v4 = append(v4, a.String())
				} else {
					v6 = append(v6, a.String())
				}
			}
		}
	}
	g["fqdn_ip4"] = v4
	g["fqdn_ip6"] = v6
}

func collectSELinux(_ context.Context, g map[string]any) {
	enforce := readTrim("/sys/fs/selinux/enforce")
	if enforce == "" {
		g["selinux"] = map[string]any{"enabled": false, "enforced": "Disabled"}
		return
	}
	mode := "Permissive"
	if enforce == "1" {
		mode = "Enforcing"
	}
	g["selinux"] = map[string]any{"enabled": true, "enforced": mode}
}

// collectLocale fills locale_info from the environment the way Python's
// locale.getdefaultlocale reads LC_ALL, LC_CTYPE, then LANG.
func collectLocale(_ context.Context, g map[string]any) {
	val := ""
	for _, k := range []string{"LC_ALL", "LC_CTYPE", "LANG", "LANGUAGE"} {
		if v := os.Getenv(k); v != "" {
			val = v
			break
		}
	}
	lang, enc := "", ""
	if val != "" && val != "C" && val != "POSIX" {
		lang, enc, _ = strings.Cut(val, ".")
		enc, _, _ = strings.Cut(enc, "@")
	}
	if enc == "" {
		enc = "utf-8"
	}
	g["locale_info"] = map[string]any{
		"defaultlanguage":  lang,
		"defaultencoding":  enc,
		"detectedencoding": strings.ToLower(strings.ReplaceAll(enc, "UTF-8", "utf-8")),
	}
}

// versionInfo splits "3007.1" or "0.4.0-dev" into [3007, 1] / [0, 4, 0]
// for the saltversioninfo grain.
func versionInfo(v string) []any {
	out := []any{}
	v, _, _ = strings.Cut(v, "-")
	for _, p := range strings.Split(v, ".") {
		n, err := strconv.Atoi(p)
		if err != nil {
			break
		}
		out = append(out, n)
	}
	return out
}

// collectDisks lists the block devices the kernel knows (disks) and the
// non-rotational ones (ssds), skipping loop, ram and device-mapper nodes
// as Salt's disks grain does.
func collectDisks(_ context.Context, g map[string]any) {
	disks, ssds := []any{}, []any{}
	entries, err := os.ReadDir("/sys/block")
	if err == nil {
		for _, e := range entries {
			n := e.Name()
			if strings.HasPrefix(n, "loop") || strings.HasPrefix(n, "ram") || strings.HasPrefix(n, "dm-") {
				continue
			}
			disks = append(disks, n)
			if readTrim("/sys/block/"+n+"/queue/rotational") == "0" {
				ssds = append(ssds, n)
			}
		}
	}
	g["disks"] = disks
	g["ssds"] = ssds
}

// collectKernelParams splits /proc/cmdline into Salt's kernelparams
// grain: a list of [key, value] pairs, value null for bare flags.
func collectKernelParams(_ context.Context, g map[string]any) {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return
	}
	g["kernelparams"] = ParseKernelParams(string(b))
}

// ParseKernelParams parses a kernel command line, honouring double
// quotes around values (root="LABEL=my root").
func ParseKernelParams(cmdline string) []any {
	out := []any{}
	var words []string
	var cur strings.Builder
	inQuote, inWord := false, false
	for _, r := range cmdline {
		switch {
		case r == '"':
			inQuote = !inQuote
			inWord = true
		case (r == ' ' || r == '\n' || r == '\t') && !inQuote:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if ok {
			out = append(out, []any{k, v})
		} else {
			out = append(out, []any{k, nil})
		}
	}
	return out
}

package grains

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

func collectCPU(_ context.Context, g map[string]any) {
	n := 0
	model := ""
	var flags []any
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			k = strings.TrimSpace(k)
			v = strings.TrimSpace(v)
			switch k {
			case "processor":
				n++
			case "model name", "cpu model", "Model":
				if model == "" {
					model = v
				}
			case "flags", "Features":
				if flags == nil {
					for _, f := range strings.Fields(v) {
						flags = append(flags, f)
					}
				}
			}
		}
	}
	if n == 0 {
		n = runtime.NumCPU()
	}
	if flags == nil {
		flags = []any{}
	}
	g["num_cpus"] = n
	g["cpu_model"] = model
	g["cpu_flags"] = flags
}

func collectMem(_ context.Context, g map[string]any) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		kb, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		switch k {
		case "MemTotal":
			g["mem_total"] = kb / 1024
		case "SwapTotal":
			g["swap_total"] = kb / 1024
		}
	}
}

func collectNetwork(_ context.Context, g map[string]any) {
	ip4 := map[string]any{}
	ip6 := map[string]any{}
	hw := map[string]any{}
	var all4, all6 []any
	ifaces, err := net.Interfaces()
	if err == nil {
		for _, ifc := range ifaces {
			mac := ifc.HardwareAddr.String()
			if mac == "" {
				mac = "00:00:00:00:00:00"
			}
			hw[ifc.Name] = mac
			l4, l6 := []any{}, []any{}
			addrs, _ := ifc.Addrs()
			for _, a := range addrs {
				ipn, ok := a.(*net.IPNet)
				if !ok {
					continue
				}
				if v4 := ipn.IP.To4(); v4 != nil {
					l4 = append(l4, v4.String())
					all4 = append(all4, v4.String())
				} else {
					l6 = append(l6, ipn.IP.String())
					all6 = append(all6, ipn.IP.String())
				}
			}
			ip4[ifc.Name] = l4
			ip6[ifc.Name] = l6
		}
	}
	g["ip4_interfaces"] = ip4
	g["ip6_interfaces"] = ip6
	g["ip_interfaces"] = mergeIfaces(ip4, ip6)
	g["hwaddr_interfaces"] = hw
	g["ipv4"] = sortedUnique(all4)
	g["ipv6"] = sortedUnique(all6)
}

func mergeIfaces(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		l := append([]any{}, v.([]any)...)
		if w, ok := b[k].([]any); ok {
			l = append(l, w...)
		}
		out[k] = l
	}
	return out
}

func sortedUnique(in []any) []any {
	seen := map[string]bool{}
	out := []any{}
	for _, v := range in {
		s := v.(string)
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	// Salt sorts the ipv4/ipv6 lists.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].(string) < out[j-1].(string); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// collectHostname finds the fully qualified name without a DNS query:
// the nodename when it already has a dot, else the first dotted alias of
// the nodename in /etc/hosts (what the resolver would answer first).
func collectHostname(_ context.Context, g map[string]any) {
	node, _ := g["nodename"].(string)
	if node == "" {
		node, _ = os.Hostname()
		g["nodename"] = node
		g["localhost"] = node
	}
	fqdn := node
	if !strings.Contains(node, ".") {
		if data, err := os.ReadFile("/etc/hosts"); err == nil {
			fqdn = fqdnFromHosts(data, node)
		}
	}
	g["fqdn"] = fqdn
	host, domain, _ := strings.Cut(fqdn, ".")
	g["host"] = host
	g["domain"] = domain
}

// fqdnFromHosts returns the canonical name of the first /etc/hosts line
// naming node, when that name is dotted; otherwise node.
func fqdnFromHosts(data []byte, node string) string {
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		names := f[1:]
		match := false
		for _, n := range names {
			if n == node || strings.HasPrefix(n, node+".") {
				match = true
			}
		}
		if !match {
			continue
		}
		for _, n := range names {
			if strings.HasPrefix(n, node+".") {
				return n
			}
		}
		if strings.Contains(names[0], ".") && strings.HasPrefix(names[0], node) {
			return names[0]
		}
		return node
	}
	return node
}

func collectMachineID(_ context.Context, g map[string]any) {
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if b, err := os.ReadFile(p); err == nil {
			if id := strings.TrimSpace(string(b)); id != "" {
				g["machine_id"] = id
				return
			}
		}
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func readTrim(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// collectVirtual answers what systemd-detect-virt would, from the files
// it reads: container markers first, then the DMI vendor strings and the
// CPU hypervisor flag. Containers report virtual=container with the
// engine in virtual_subtype, as Salt does for Docker.
func collectVirtual(_ context.Context, g map[string]any) {
	virt, sub := detectVirtual()
	g["virtual"] = virt
	if sub != "" {
		g["virtual_subtype"] = sub
	}
}

func detectVirtual() (string, string) {
	if c := readTrim("/run/systemd/container"); c != "" {
		return containerKind(c)
	}
	if exists("/.dockerenv") {
		return "container", "Docker"
	}
	if exists("/run/.containerenv") {
		return "container", "Podman"
	}
	if cg, err := os.ReadFile("/proc/1/cgroup"); err == nil {
		s := string(cg)
		switch {
		case strings.Contains(s, "/docker") || strings.Contains(s, "docker-"):
			return "container", "Docker"
		case strings.Contains(s, "/lxc/") || strings.Contains(s, "lxc.payload"):
			return "LXC", ""
		case strings.Contains(s, "kubepods"):
			return "container", "Kubernetes"
		}
	}
	if b, err := os.ReadFile("/proc/1/environ"); err == nil {
		for _, kv := range bytes.Split(b, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte("container=")); ok {
				return containerKind(string(v))
			}
		}
	}
	vendor := readTrim("/sys/class/dmi/id/sys_vendor")
	product := readTrim("/sys/class/dmi/id/product_name")
	bios := readTrim("/sys/class/dmi/id/bios_vendor")
	all := strings.ToLower(vendor + " " + product + " " + bios)
	switch {
	case strings.Contains(all, "kvm") || strings.Contains(all, "qemu") || strings.Contains(all, "google"):
		return "kvm", ""
	case strings.Contains(all, "vmware"):
		return "VMware", ""
	case strings.Contains(all, "virtualbox") || strings.Contains(all, "innotek"):
		return "VirtualBox", ""
	case strings.Contains(all, "microsoft corporation") && strings.Contains(all, "virtual"):
		return "HyperV", ""
	case strings.Contains(all, "xen"):
		return "xen", ""
	case strings.Contains(all, "amazon ec2"):
		return "kvm", "Amazon EC2"
	case strings.Contains(all, "bochs"):
		return "kvm", ""
	case strings.Contains(all, "parallels"):
		return "Parallels", ""
	}
	if exists("/proc/xen") {
		return "xen", ""
	}
	return "physical", ""
}

func containerKind(c string) (string, string) {
	switch strings.ToLower(c) {
	case "docker":
		return "container", "Docker"
	case "podman":
		return "container", "Podman"
	case "lxc", "lxc-libvirt":
		return "LXC", ""
	case "systemd-nspawn":
		return "systemd-nspawn", ""
	case "wsl":
		return "container", "WSL"
	}
	return "container", c
}

// collectInit names the init system: systemd when it is running (the
// test systemd itself uses), else OpenRC, else the name of PID 1.
func collectInit(_ context.Context, g map[string]any) {
	switch {
	case exists("/run/systemd/system"):
		g["init"] = "systemd"
	case exists("/run/openrc") || exists("/sbin/openrc-run"):
		g["init"] = "openrc"
	default:
		comm := readTrim("/proc/1/comm")
		switch {
		case comm == "init" && exists("/etc/inittab"):
			g["init"] = "sysvinit"
		case comm == "runit" || comm == "runsvdir":
			g["init"] = "runit"
		case comm == "systemd":
			g["init"] = "systemd"
		case comm == "upstart":
			g["init"] = "upstart"
		case comm == "s6-svscan":
			g["init"] = "s6"
		case comm == "init":
			g["init"] = "sysvinit"
		default:
			g["init"] = "unknown"
		}
	}
}

func collectDMI(_ context.Context, g map[string]any) {
	for grain, file := range map[string]string{
		"biosversion":     "bios_version",
		"biosreleasedate": "bios_date",
		"manufacturer":    "sys_vendor",
		"productname":     "product_name",
		"serialnumber":    "product_serial",
		"uuid":            "product_uuid",
	} {
		if v := readTrim(filepath.Join("/sys/class/dmi/id", file)); v != "" {
			g[grain] = v
		}
	}
	g["efi"] = exists("/sys/firmware/efi")
}

func collectProcess(_ context.Context, g map[string]any) {
	uid, gid := os.Getuid(), os.Getgid()
	g["uid"] = uid
	g["gid"] = gid
	g["pid"] = os.Getpid()
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		g["username"] = u.Username
	}
	if gr, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		g["groupname"] = gr.Name
	}
	sh := os.Getenv("SHELL")
	if sh == "" {
		sh = "/bin/sh"
	}
	g["shell"] = sh
	g["path"] = os.Getenv("PATH")
	if cwd, err := os.Getwd(); err == nil {
		g["cwd"] = cwd
	}
}

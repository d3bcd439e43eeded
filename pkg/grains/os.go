package grains

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// osNames maps an os-release ID to Salt's os grain.
var osNames = map[string]string{
	"debian":              "Debian",
	"ubuntu":              "Ubuntu",
	"raspbian":            "Raspbian",
	"devuan":              "Devuan",
	"linuxmint":           "Mint",
	"pop":                 "Pop",
	"kali":                "Kali",
	"rhel":                "RedHat",
	"centos":              "CentOS",
	"rocky":               "Rocky",
	"almalinux":           "AlmaLinux",
	"ol":                  "OEL",
	"fedora":              "Fedora",
	"amzn":                "Amazon",
	"scientific":          "Scientific",
	"cloudlinux":          "CloudLinux",
	"virtuozzo":           "Virtuozzo",
	"alpine":              "Alpine",
	"arch":                "Arch",
	"archarm":             "Arch ARM",
	"manjaro":             "Manjaro",
	"gentoo":              "Gentoo",
	"sles":                "SUSE",
	"sles_sap":            "SUSE",
	"opensuse":            "SUSE",
	"opensuse-leap":       "Leap",
	"opensuse-tumbleweed": "openSUSE Tumbleweed",
	"void":                "Void",
	"nixos":               "NixOS",
	"photon":              "Photon OS",
	"mariner":             "CBL-Mariner",
	"slackware":           "Slackware",
	"freebsd":             "FreeBSD",
}

// osFamilies maps Salt's os grain to its os_family grain.
var osFamilies = map[string]string{
	"Debian": "Debian", "Ubuntu": "Debian", "Raspbian": "Debian", "Devuan": "Debian",
	"Mint": "Debian", "Pop": "Debian", "Kali": "Debian", "Linaro": "Debian", "Cumulus": "Debian",
	"RedHat": "RedHat", "CentOS": "RedHat", "Rocky": "RedHat", "AlmaLinux": "RedHat",
	"OEL": "RedHat", "Fedora": "RedHat", "Amazon": "RedHat", "Scientific": "RedHat",
	"CloudLinux": "RedHat", "Virtuozzo": "RedHat", "XenServer": "RedHat", "Photon OS": "RedHat",
	"CBL-Mariner": "RedHat", "AlmaLinux OS": "RedHat", "CentOS Stream": "RedHat",
	"Alpine": "Alpine",
	"Arch":   "Arch", "Arch ARM": "Arch", "Manjaro": "Arch",
	"Gentoo": "Gentoo",
	"SUSE":   "Suse", "Leap": "Suse", "openSUSE Tumbleweed": "Suse", "openSUSE": "Suse",
	"Void": "Void", "NixOS": "NixOS", "Slackware": "Slackware", "FreeBSD": "FreeBSD",
}

// ParseOSRelease parses /etc/os-release (shell-style KEY=value lines,
// values optionally quoted) into a map.
func ParseOSRelease(data []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			q := v[0]
			v = v[1 : len(v)-1]
			if q == '"' {
				v = strings.NewReplacer(`\"`, `"`, `\\`, `\`, `\$`, `$`, "\\`", "`").Replace(v)
			}
		}
		out[strings.TrimSpace(k)] = v
	}
	return out
}

// OSGrains turns parsed os-release fields into Salt's OS grains: os,
// os_family, osfullname, osrelease, osrelease_info, osmajorrelease,
// oscodename, osfinger and the lsb_distrib_* keys.
func OSGrains(rel map[string]string) map[string]any {
	g := map[string]any{}
	id := strings.ToLower(rel["ID"])
	osName, ok := osNames[id]
	switch {
	case rel["NAME"] == "CentOS Stream":
		osName = "CentOS Stream"
	case !ok:
		// Unknown distribution: its ID capitalised, as Python's
		// str.capitalize does ("mendel" -> "Mendel"); the family then
		// comes from ID_LIKE.
		osName = id
		if osName == "" {
			osName = strings.ToLower(rel["NAME"])
		}
		if len(osName) > 0 {
			osName = strings.ToUpper(osName[:1]) + osName[1:]
		}
	}
	family := osFamilies[osName]
	if family == "" {
		for _, like := range strings.Fields(rel["ID_LIKE"]) {
			if n, ok := osNames[strings.ToLower(like)]; ok {
				family = osFamilies[n]
				break
			}
		}
	}
	if family == "" {
		family = osName
	}
	g["os"] = osName
	g["os_family"] = family
	full := rel["NAME"]
	if full == "" {
		full = osName
	}
	g["osfullname"] = full

	release := rel["VERSION_ID"]
	g["osrelease"] = release
	var info []any
	for _, p := range strings.Split(release, ".") {
		if n, err := strconv.Atoi(p); err == nil {
			info = append(info, n)
		} else {
			break
		}
	}
	if info == nil {
		info = []any{}
	}
	g["osrelease_info"] = info
	if len(info) > 0 {
		g["osmajorrelease"] = info[0]
	}

	code := rel["VERSION_CODENAME"]
	if code == "" {
		code = rel["UBUNTU_CODENAME"]
	}
	if code == "" {
		// Rocky/RHEL put it in VERSION: "9.3 (Blue Onyx)".
		if v := rel["VERSION"]; strings.Contains(v, "(") {
			_, rest, _ := strings.Cut(v, "(")
			code, _, _ = strings.Cut(rest, ")")
		}
	}
	g["oscodename"] = code

	if release != "" {
		name := full
		switch osName {
		case "Debian", "Raspbian", "FreeBSD":
			name = osName
		}
		ver := release
		if osName != "Ubuntu" && osName != "Pop" && len(info) > 0 {
			ver = strconv.Itoa(info[0].(int))
		}
		g["osfinger"] = name + "-" + ver
	}

	g["lsb_distrib_id"] = full
	g["lsb_distrib_release"] = release
	g["lsb_distrib_codename"] = code
	if p := rel["PRETTY_NAME"]; p != "" {
		g["lsb_distrib_description"] = p
	}
	return g
}

func readOSRelease() map[string]string {
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		if data, err := os.ReadFile(p); err == nil {
			return ParseOSRelease(data)
		}
	}
	return map[string]string{}
}

func collectOS(_ context.Context, g map[string]any) {
	for k, v := range OSGrains(readOSRelease()) {
		g[k] = v
	}
	arch, _ := g["cpuarch"].(string)
	g["osarch"] = osArch(arch, g["os_family"])
}

// osArch names the architecture as the package manager does (dpkg's
// amd64 on Debian, rpm's x86_64 on RedHat), which is what Salt's osarch
// grain reports.
func osArch(cpuarch string, family any) string {
	switch family {
	case "Debian":
		switch cpuarch {
		case "x86_64":
			return "amd64"
		case "aarch64":
			return "arm64"
		case "armv7l":
			return "armhf"
		case "i686", "i386":
			return "i386"
		}
	case "Arch":
		if cpuarch == "aarch64" {
			return "aarch64"
		}
	}
	return cpuarch
}

func utsString[T int8 | uint8](a [65]T) string {
	b := make([]byte, 0, len(a))
	for _, c := range a {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

func collectKernel(_ context.Context, g map[string]any) {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		g["kernel"] = "Linux"
		return
	}
	g["kernel"] = utsString(u.Sysname)
	g["kernelrelease"] = utsString(u.Release)
	g["kernelversion"] = utsString(u.Version)
	g["cpuarch"] = utsString(u.Machine)
	g["nodename"] = utsString(u.Nodename)
	g["localhost"] = utsString(u.Nodename)
}

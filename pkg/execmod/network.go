package execmod

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// registerNetwork adds the host-local part of Salt's network module:
// addresses, interfaces, subnets and reachability checks, answered from
// the kernel rather than by parsing `ip` output.
func registerNetwork(r *Registry) {
	r.Register("network.ip_addrs", "Return the IPv4 addresses of the host, without loopback unless include_loopback=True (interface=, cidr=, type=public|private).\nCLI Example: brine-master run '*' network.ip_addrs cidr=10.0.0.0/8", networkIPAddrs4)
	r.Register("network.ip_addrs6", "Return the IPv6 addresses of the host, without loopback unless include_loopback=True (interface=, cidr=).\nCLI Example: brine-master run '*' network.ip_addrs6", networkIPAddrs6)
	r.Register("network.interfaces", "Return a map of interfaces with hwaddr, up, inet and inet6, as Salt does.\nCLI Example: brine-master run '*' network.interfaces", networkInterfaces)
	r.Register("network.hw_addr", "Return the hardware address of an interface.\nCLI Example: brine-master run '*' network.hw_addr eth0", networkHwAddr)
	r.Register("network.subnets", "Return the IPv4 subnets the host belongs to (loopback excluded).\nCLI Example: brine-master run '*' network.subnets interfaces=eth0", networkSubnets4)
	r.Register("network.subnets6", "Return the IPv6 subnets the host belongs to (loopback excluded).\nCLI Example: brine-master run '*' network.subnets6", networkSubnets6)
	r.Register("network.in_subnet", "Return True if the host has an address in the CIDR.\nCLI Example: brine-master run '*' network.in_subnet 10.0.0.0/16", networkInSubnet)
	r.Register("network.ip_in_subnet", "Return True if the address is in the CIDR.\nCLI Example: brine-master run '*' network.ip_in_subnet 172.17.0.4 172.16.0.0/12", networkIPInSubnet)
	r.Register("network.get_hostname", "Return the host name.\nCLI Example: brine-master run '*' network.get_hostname", networkGetHostname)
	r.Register("network.ping", "Ping a host with the ping binary (4 packets); return_boolean=True gives True/False.\nCLI Example: brine-master run '*' network.ping archlinux.org timeout=3", networkPing)
	r.Register("network.connect", "Test TCP (or proto=udp) connectivity to host:port; returns {result, comment}.\nCLI Example: brine-master run '*' network.connect archlinux.org 80 timeout=3", networkConnect)
}

// ifaceAddr is one address of one interface.
type ifaceAddr struct {
	iface    string
	flags    net.Flags
	prefix   netip.Prefix
	hardware string
}

func hostAddrs() ([]ifaceAddr, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var out []ifaceAddr
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			ones, _ := ipn.Mask.Size()
			out = append(out, ifaceAddr{iface: ifc.Name, flags: ifc.Flags, prefix: netip.PrefixFrom(ip, ones), hardware: ifc.HardwareAddr.String()})
		}
	}
	return out, nil
}

// reservedNets are the non-public IPv4 ranges beyond RFC 1918 that
// Salt's "private" address type also counts (shared, test and reserved).
var reservedNets = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
}

func isPrivate(a netip.Addr) bool {
	if a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() {
		return true
	}
	for _, p := range reservedNets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func ipAddrs(fn string, args []any, kwargs map[string]any, v6 bool) (any, error) {
	names := []string{"interface", "include_loopback", "cidr", "type"}
	if v6 {
		names = names[:3]
	}
	kw, err := Bind(fn, args, kwargs, names...)
	if err != nil {
		return nil, err
	}
	iface, err := Str(kw, "interface", "")
	if err != nil {
		return nil, err
	}
	loop, err := Bool(kw, "include_loopback", false)
	if err != nil {
		return nil, err
	}
	cidrS, err := Str(kw, "cidr", "")
	if err != nil {
		return nil, err
	}
	var cidr netip.Prefix
	if cidrS != "" {
		if cidr, err = netip.ParsePrefix(cidrS); err != nil {
			return nil, &ArgError{Arg: "cidr", Want: "a CIDR such as 10.0.0.0/8", Got: cidrS}
		}
	}
	typ, err := Str(kw, "type", "")
	if err != nil {
		return nil, err
	}
	if typ != "" && typ != "public" && typ != "private" {
		return nil, &ArgError{Arg: "type", Want: "public or private", Got: typ}
	}
	addrs, err := hostAddrs()
	if err != nil {
		return nil, err
	}
	seen := map[netip.Addr]bool{}
	var list []netip.Addr
	for _, a := range addrs {
		ip := a.prefix.Addr()
		if ip.Is4() == v6 || (iface != "" && a.iface != iface) {
			continue
		}
		if ip.IsLoopback() && !loop {
			continue
		}
		if cidr.IsValid() && !cidr.Contains(ip) {
			continue
		}
		if typ == "public" && isPrivate(ip) || typ == "private" && !isPrivate(ip) {
			continue
		}
		if !seen[ip] {
			seen[ip] = true
			list = append(list, ip)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Less(list[j]) })
	out := make([]any, len(list))
	for i, ip := range list {
		out[i] = ip.String()
	}
	return out, nil
}

func networkIPAddrs4(_ *Context, args []any, kwargs map[string]any) (any, error) {
	return ipAddrs("network.ip_addrs", args, kwargs, false)
}

func networkIPAddrs6(_ *Context, args []any, kwargs map[string]any) (any, error) {
	return ipAddrs("network.ip_addrs6", args, kwargs, true)
}

func scope6(a netip.Addr) string {
	switch {
	case a.IsLoopback():
		return "host"
	case a.IsLinkLocalUnicast():
		return "link"
	case strings.HasPrefix(strings.ToLower(a.String()), "fec0"):
		return "site"
	}
	return "global"
}

// Interfaces returns network.interfaces' shape: per interface its
// hwaddr, up flag, and inet (address, netmask, broadcast, label) and
// inet6 (address, prefixlen, scope) lists.
func Interfaces() (map[string]any, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	out := map[string]any{}
	for _, ifc := range ifs {
		hw := ifc.HardwareAddr.String()
		if hw == "" {
			hw = "00:00:00:00:00:00"
		}
		entry := map[string]any{"hwaddr": hw, "up": ifc.Flags&net.FlagUp != 0}
		var inet, inet6 []any
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			if v4 := ipn.IP.To4(); v4 != nil {
				mask := net.IP(ipn.Mask).To4()
				if len(ipn.Mask) == 16 {
					mask = net.IP(ipn.Mask[12:]).To4()
				}
				e := map[string]any{"address": v4.String(), "netmask": mask.String(), "label": ifc.Name}
				ones, bits := ipn.Mask.Size()
				if ifc.Flags&net.FlagBroadcast != 0 && ones < bits-1 {
					b := make(net.IP, 4)
					for i := range b {
						b[i] = v4[i] | ^mask[i]
					}
					e["broadcast"] = b.String()
				}
				inet = append(inet, e)
			} else {
				ip, _ := netip.AddrFromSlice(ipn.IP)
				ones, _ := ipn.Mask.Size()
				inet6 = append(inet6, map[string]any{"address": ip.String(), "prefixlen": strconv.Itoa(ones), "scope": scope6(ip)})
			}
		}
		if inet != nil {
			entry["inet"] = inet
		}
		if inet6 != nil {
			entry["inet6"] = inet6
		}
		out[ifc.Name] = entry
	}
	return out, nil
}

func networkInterfaces(_ *Context, _ []any, _ map[string]any) (any, error) {
	return Interfaces()
}

func networkHwAddr(_ *Context, args []any, kwargs map[string]any) (any, error) {
	name, err := bindOneStr("network.hw_addr", "iface", args, kwargs)
	if err != nil {
		return nil, err
	}
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return fmt.Sprintf("Interface \"%s\" not in available interfaces: \"%s\"", name, strings.Join(ifaceNames(), "\", \"")), nil
	}
	if hw := ifc.HardwareAddr.String(); hw != "" {
		return hw, nil
	}
	return "00:00:00:00:00:00", nil
}

func ifaceNames() []string {
	ifs, _ := net.Interfaces()
	out := make([]string, len(ifs))
	for i, ifc := range ifs {
		out[i] = ifc.Name
	}
	sort.Strings(out)
	return out
}

func subnets(fn string, args []any, kwargs map[string]any, v6 bool) (any, error) {
	kw, err := Bind(fn, args, kwargs, "interfaces")
	if err != nil {
		return nil, err
	}
	only, err := StrList(kw, "interfaces")
	if err != nil {
		return nil, err
	}
	addrs, err := hostAddrs()
	if err != nil {
		return nil, err
	}
	seen := map[netip.Prefix]bool{}
	var list []netip.Prefix
	for _, a := range addrs {
		ip := a.prefix.Addr()
		if ip.Is4() == v6 || ip.IsLoopback() {
			continue
		}
		if len(only) > 0 && !containsStr(only, a.iface) {
			continue
		}
		n := a.prefix.Masked()
		if !seen[n] {
			seen[n] = true
			list = append(list, n)
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if c := list[i].Addr().Compare(list[j].Addr()); c != 0 {
			return c < 0
		}
		return list[i].Bits() < list[j].Bits()
	})
	out := make([]any, len(list))
	for i, p := range list {
		out[i] = p.String()
	}
	return out, nil
}

func containsStr(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

func networkSubnets4(_ *Context, args []any, kwargs map[string]any) (any, error) {
	return subnets("network.subnets", args, kwargs, false)
}

func networkSubnets6(_ *Context, args []any, kwargs map[string]any) (any, error) {
	return subnets("network.subnets6", args, kwargs, true)
}

func networkInSubnet(_ *Context, args []any, kwargs map[string]any) (any, error) {
	s, err := bindOneStr("network.in_subnet", "cidr", args, kwargs)
	if err != nil {
		return nil, err
	}
	cidr, err := netip.ParsePrefix(s)
	if err != nil {
		return nil, &ArgError{Arg: "cidr", Want: "a CIDR such as 10.0.0.0/8", Got: s}
	}
	addrs, err := hostAddrs()
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if cidr.Contains(a.prefix.Addr()) {
			return true, nil
		}
	}
	return false, nil
}

func networkIPInSubnet(_ *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("network.ip_in_subnet", args, kwargs, "ip_addr", "cidr")
	if err != nil {
		return nil, err
	}
	if err := Require("network.ip_in_subnet", kw, "ip_addr", "cidr"); err != nil {
		return nil, err
	}
	ipS, err := Str(kw, "ip_addr", "")
	if err != nil {
		return nil, err
	}
	cidrS, err := Str(kw, "cidr", "")
	if err != nil {
		return nil, err
	}
	cidr, err := netip.ParsePrefix(cidrS)
	if err != nil {
		return nil, &ArgError{Arg: "cidr", Want: "a CIDR such as 10.0.0.0/8", Got: cidrS}
	}
	ipS, _, _ = strings.Cut(ipS, "/")
	ip, err := netip.ParseAddr(ipS)
	if err != nil {
		return nil, &ArgError{Arg: "ip_addr", Want: "an IP address", Got: ipS}
	}
	return cidr.Contains(ip), nil
}

func networkGetHostname(_ *Context, _ []any, _ map[string]any) (any, error) {
	h, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("network.get_hostname: %w", err)
	}
	return h, nil
}

func networkPing(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("network.ping", args, kwargs, "host", "timeout", "return_boolean")
	if err != nil {
		return nil, err
	}
	if err := Require("network.ping", kw, "host"); err != nil {
		return nil, err
	}
	host, err := Str(kw, "host", "")
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(host, "-") || strings.ContainsAny(host, " \t\n;|&$`'\"\\") {
		return nil, &ArgError{Arg: "host", Want: "a host name or address", Got: host}
	}
	retBool, err := Bool(kw, "return_boolean", false)
	if err != nil {
		return nil, err
	}
	timeout := 0
	if v, ok := kw["timeout"]; ok {
		if b, isBool := v.(bool); !isBool || b {
			if timeout, err = Int(kw, "timeout", 0); err != nil {
				return nil, err
			}
		}
	}
	ping, ok := which("ping")
	if !ok {
		return nil, fmt.Errorf("network.ping: the ping binary is not installed (install iputils-ping or inetutils-ping)")
	}
	argv := []any{ping, "-c", "4"}
	if timeout > 0 {
		argv = []any{ping, "-W", strconv.Itoa(timeout), "-c", "4"}
	}
	argv = append(argv, host)
	res, err := c.Call("cmd.run_all", []any{argv}, map[string]any{"python_shell": false, "ignore_retcode": true})
	if err != nil {
		return nil, err
	}
	m := res.(map[string]any)
	if retBool {
		return m["retcode"] == 0, nil
	}
	out, _ := m["stdout"].(string)
	if e, _ := m["stderr"].(string); e != "" {
		if out != "" {
			out += "\n"
		}
		out += e
	}
	return out, nil
}

func networkConnect(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("network.connect", args, kwargs, "host", "port")
	if err != nil {
		return nil, err
	}
	ret := map[string]any{"result": nil, "comment": ""}
	host, err := Str(kw, "host", "")
	if err != nil {
		return nil, err
	}
	if host == "" {
		ret["result"], ret["comment"] = false, "Required argument, host, is missing."
		return ret, nil
	}
	port, err := Int(kw, "port", 0)
	if err != nil {
		return nil, err
	}
	if port == 0 {
		ret["result"], ret["comment"] = false, "Required argument, port, is missing."
		return ret, nil
	}
	proto, err := Str(kw, "proto", "tcp")
	if err != nil {
		return nil, err
	}
	if proto != "udp" {
		proto = "tcp"
	}
	timeout, err := Float(kw, "timeout", 5)
	if err != nil {
		return nil, err
	}
	family, err := Str(kw, "family", "")
	if err != nil {
		return nil, err
	}
	network := proto
	switch family {
	case "ipv4":
		network += "4"
	case "ipv6":
		network += "6"
	}
	d := time.Duration(timeout * float64(time.Second))
	resolved := host
	rctx, cancel := context.WithTimeout(c.Context(), d)
	defer cancel()
	if addrs, err := net.DefaultResolver.LookupHost(rctx, host); err == nil && len(addrs) > 0 {
		resolved = addrs[0]
		if family == "ipv4" || family == "ipv6" {
			for _, a := range addrs {
				if ip, err := netip.ParseAddr(a); err == nil && ip.Is4() == (family == "ipv4") {
					resolved = a
					break
				}
			}
		}
	}
	conn, err := net.DialTimeout(network, net.JoinHostPort(resolved, strconv.Itoa(port)), d)
	if err == nil && proto == "udp" {
		// A UDP "connection" proves nothing until a datagram goes out
		// and no ICMP port-unreachable comes back.
		_ = conn.SetDeadline(time.Now().Add(d))
		if _, err = conn.Write([]byte("\x00")); err == nil {
			buf := make([]byte, 1)
			if _, rerr := conn.Read(buf); rerr != nil {
				if ne, ok := rerr.(net.Error); !ok || !ne.Timeout() {
					err = rerr
				}
			}
		}
	}
	if conn != nil {
		conn.Close()
	}
	if err != nil {
		ret["result"] = false
		ret["comment"] = fmt.Sprintf("Unable to connect to %s (%s) on %s port %d", host, resolved, proto, port)
		return ret, nil
	}
	ret["result"] = true
	ret["comment"] = fmt.Sprintf("Successfully connected to %s (%s) on %s port %d", host, resolved, proto, port)
	return ret, nil
}

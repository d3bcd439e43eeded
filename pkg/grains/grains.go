// Package grains collects the host facts Salt calls grains (os, kernel,
// CPUs, memory, addresses, virtualisation, init system, ...) so that
// targeting (`-G os:Debian`), templates (`grains['os_family']`) and
// grains.filter_by see the same keys and values on brine as on Salt.
//
// Collection reads files under /proc, /sys and /etc and asks the kernel
// directly; it never spawns a process, so a minion can refresh its grains
// often and cheaply.
package grains

import (
	"context"
	"crypto/sha256"
	"math/big"
	"runtime/debug"
	"strings"
)

// Version is reported as the saltversion and brineversion grains; the
// build may override it with -ldflags "-X .../pkg/grains.Version=...".
var Version = ""

// Collector adds the grains it knows to g. It may read grains set by
// collectors that ran before it (the list order), which is how os_family
// follows os and host follows fqdn.
type Collector func(ctx context.Context, g map[string]any)

// named pairs a collector with its name so callers can list, skip or
// benchmark collectors one by one.
type named struct {
	name string
	fn   Collector
}

// collectors is the registry, in run order.
var collectors = []named{
	{"kernel", collectKernel},
	{"os", collectOS},
	{"cpu", collectCPU},
	{"mem", collectMem},
	{"network", collectNetwork},
	{"hostname", collectHostname},
	{"machine_id", collectMachineID},
	{"virtual", collectVirtual},
	{"init", collectInit},
	{"dmi", collectDMI},
	{"process", collectProcess},
	{"brine", collectVersion},
	{"dns", collectDNS},
	{"fqdn_ip", collectFQDNIPs},
	{"selinux", collectSELinux},
	{"locale", collectLocale},
	{"disks", collectDisks},
	{"kernelparams", collectKernelParams},
}

// Names lists the registered collectors in the order they run.
func Names() []string {
	out := make([]string, len(collectors))
	for i, c := range collectors {
		out[i] = c.name
	}
	return out
}

// Collect gathers every grain from the real host, then deep-merges the
// static grains over them (static wins, as Salt's grains file and minion
// config do). The id grain is static["id"] when given, else the fqdn; the
// master grain comes from static too.
func Collect(ctx context.Context, static map[string]any) map[string]any {
	g := make(map[string]any, 64)
	for _, c := range collectors {
		if ctx.Err() != nil {
			break
		}
		c.fn(ctx, g)
	}
	if _, ok := g["id"]; !ok {
		g["id"] = g["fqdn"]
	}
	merge(g, static)
	if id, ok := g["id"].(string); ok {
		g["server_id"] = ServerID(id)
	}
	return g
}

// CollectOnly runs just the named collectors (unknown names are ignored),
// for a cheap partial refresh and for benchmarks of one collector.
func CollectOnly(ctx context.Context, names ...string) map[string]any {
	g := map[string]any{}
	for _, c := range collectors {
		for _, n := range names {
			if n == c.name {
				c.fn(ctx, g)
			}
		}
	}
	return g
}

// ServerID derives Salt's server_id grain from the minion id: the
// SHA-256 of the id, as an integer, modulo 2^31 — stable across restarts
// and hosts so it can seed per-minion splay and ids in templates.
func ServerID(id string) int {
	sum := sha256.Sum256([]byte(id))
	n := new(big.Int).SetBytes(sum[:])
	n.Mod(n, big.NewInt(1<<31))
	return int(n.Int64())
}

// merge deep-merges src into dst: nested maps merge key by key, every
// other value in src replaces dst's.
func merge(dst, src map[string]any) {
	for k, v := range src {
		sm, sok := v.(map[string]any)
		dm, dok := dst[k].(map[string]any)
		if sok && dok {
			cp := make(map[string]any, len(dm))
			for kk, vv := range dm {
				cp[kk] = vv
			}
			merge(cp, sm)
			dst[k] = cp
			continue
		}
		dst[k] = v
	}
}

func collectVersion(_ context.Context, g map[string]any) {
	v := Version
	if v == "" {
		v = "0.0.0-dev"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = strings.TrimPrefix(bi.Main.Version, "v")
		}
	}
	g["saltversion"] = v
	g["brineversion"] = v
	g["saltversioninfo"] = versionInfo(v)
}

// Package proctune holds the process settings a brine daemon or tool
// applies at start: the open-files limit a fleet of sockets needs, and a
// loopback-only profiler endpoint for finding where a loaded process
// spends its time. The master, the fleet simulator and brine-bench share
// it so the limits and the refusal of public profiler addresses stay the
// same everywhere.
package proctune

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"syscall"
	"time"
)

// RaiseNoFile lifts the soft open-files limit to the hard one, because
// every connected minion holds a socket and the usual soft limit of 1024
// would cap a fleet far below what the process can serve. It returns the
// limit in force afterwards.
func RaiseNoFile() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("open files limit: %w", err)
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return 0, fmt.Errorf("raise open files limit: %w", err)
		}
	}
	return rl.Cur, nil
}

// ServePprof exposes the Go profiler on addr and returns the address it
// listens on. It refuses non-loopback addresses: profiles reveal
// internals and the endpoint has no authentication.
func ServePprof(addr string) (string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("pprof address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", fmt.Errorf("pprof address %q: only loopback addresses are allowed", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), nil
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/brine-cm/brine/pkg/config"
	"github.com/brine-cm/brine/pkg/grains"
	"github.com/brine-cm/brine/pkg/output"
)

func runGrains(args []string, stdout, stderr io.Writer) int {
	f, err := parseCallFlags(args)
	if err != nil {
		fmt.Fprintf(stderr, "brine-minion grains: %v\nusage: brine-minion grains [--out json|yaml|nested] [--config FILE] [--id ID]\n", err)
		return 2
	}
	if f.help {
		fmt.Fprintln(stdout, "usage: brine-minion grains [--out json|yaml|nested] [--config FILE] [--id ID]")
		return 0
	}
	if len(f.positional) > 0 {
		fmt.Fprintf(stderr, "brine-minion grains: unexpected arguments %v\n", f.positional)
		return 2
	}
	if f.out != "" && !validFormat(f.out) {
		fmt.Fprintf(stderr, "brine-minion grains: unknown output format %q (want one of %s)\n", f.out, strings.Join(output.Formats, ", "))
		return 2
	}
	cfgPath, mustExist := f.config, true
	if cfgPath == "" {
		cfgPath, mustExist = config.DefaultMinionPath, false
	}
	cfg, err := config.LoadMinion(cfgPath, mustExist)
	if err != nil {
		fmt.Fprintf(stderr, "brine-minion grains: %v\n", err)
		return 2
	}
	static := map[string]any{}
	for k, v := range cfg.Grains {
		static[k] = v
	}
	id := cfg.ID
	if f.id != "" {
		id = f.id
	}
	if id != "" {
		static["id"] = id
	}
	g := grains.Collect(context.Background(), static)
	if _, ok := g["id"]; !ok {
		if fq, _ := g["fqdn"].(string); fq != "" {
			g["id"] = fq
		} else if h, err := os.Hostname(); err == nil {
			g["id"] = h
		}
	}
	format := f.out
	if format == "" {
		format = "nested"
	}
	if err := output.Print(stdout, format, map[string]any{"local": g}); err != nil {
		fmt.Fprintf(stderr, "brine-minion grains: %v\n", err)
		return 1
	}
	return 0
}

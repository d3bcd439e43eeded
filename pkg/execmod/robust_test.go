package execmod_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/brine-cm/brine/pkg/fileclient"
)

// readOnly are the functions that never change the host, so they can be
// called with any input here.
var readOnly = map[string]bool{}

func init() {
	for _, f := range strings.Fields(`
		test.ping test.echo test.version test.arg test.kwarg test.true test.false
		grains.items grains.item grains.get grains.ls grains.fetch grains.filter_by grains.has_value
		pillar.items pillar.item pillar.get pillar.data pillar.raw pillar.keys pillar.ls pillar.has_value pillar.filter_by
		config.get config.option config.items
		defaults.get defaults.merge defaults.update defaults.deepcopy
		slsutil.merge slsutil.merge_all slsutil.update
		log.debug log.info log.warning log.error log.critical log.exception
		file.file_exists file.directory_exists file.get_hash file.read file.stats file.dirname file.basename
		file.join file.access file.contains file.search file.get_mode file.get_uid file.get_user file.get_gid
		file.get_group file.is_link file.readlink
		cp.list_master cp.list_master_dirs cp.hash_file
		network.in_subnet network.ip_in_subnet network.ip_addrs network.ip_addrs6 network.interfaces
		network.subnets network.subnets6 network.hw_addr network.get_hostname
		sys.doc sys.list_functions sys.list_modules
		user.info user.getent user.list_users user.list_groups
		group.info group.getent group.members
		pkg.version pkg.list_pkgs
		service.status service.available service.missing service.enabled service.disabled
		cron.list_tab cron.raw_cron cron.ls
		cmd.has_exec cmd.which`) {
		readOnly[f] = true
	}
}

// Every read-only function, given arguments of every wrong shape, returns
// a result or an error and never panics: a panic here would take down
// the minion's job or the template being rendered.
func TestReadOnlyFunctionsSurviveBadInput(t *testing.T) {
	c, _ := newCtx(t)
	c.Files = fileclient.NewLocal(t.TempDir())
	bad := []any{nil, "", "\x00", "a:b:c", -1, 1.5, true, []any{}, []any{1, nil}, map[string]any{}, map[string]any{"a": []any{1}}}
	seen := 0
	for _, fn := range c.Registry.Names() {
		if !readOnly[fn] {
			continue
		}
		seen++
		var inputs [][]any
		inputs = append(inputs, nil)
		for _, b := range bad {
			inputs = append(inputs, []any{b}, []any{"x", b}, []any{b, b, b})
		}
		for _, args := range inputs {
			for _, kw := range []map[string]any{nil, {"default": []any{1}, "merge": "x", "delimiter": 5}} {
				func() {
					defer func() {
						if p := recover(); p != nil {
							t.Errorf("%s(%s, %s) panicked: %v", fn, fmt.Sprint(args), fmt.Sprint(kw), p)
						}
					}()
					_, _ = c.Call(fn, args, kw)
				}()
			}
		}
	}
	if seen < 60 {
		t.Fatalf("only %d read-only functions registered; the list is stale", seen)
	}
}

package execmod

import (
	"testing"
)

// A crontab as Salt writes it: foreign lines above the marker, an env
// line, a job with comment and identifier, a disabled job and a special.
const saltCrontab = `# m h dom mon dow command
0 0 * * * /usr/bin/mine
# Lines below here are managed by Salt, do not edit
MAILTO=ops@example.com
# nightly SALT_CRON_IDENTIFIER:backup
5 2 * * * /usr/local/bin/backup --quiet
# SALT_CRON_IDENTIFIER:off
#DISABLED#*/5 * * * * /bin/poll
@reboot /bin/true
`

func TestCronParseRenderRoundTrip(t *testing.T) {
	tab := parseCronTab(saltCrontab)
	if len(tab.Pre) != 2 || len(tab.Env) != 1 || len(tab.Crons) != 2 || len(tab.Special) != 1 {
		t.Fatalf("parsed %+v", tab)
	}
	j := tab.Crons[0]
	if j.Minute != "5" || j.Hour != "2" || j.Cmd != "/usr/local/bin/backup --quiet" || *j.Comment != "nightly" || *j.Identifier != "backup" {
		t.Fatalf("job %+v", j)
	}
	if !tab.Crons[1].Commented || *tab.Crons[1].Identifier != "off" || tab.Crons[1].Minute != "*/5" {
		t.Fatalf("disabled job %+v", tab.Crons[1])
	}
	if tab.Special[0].Spec != "@reboot" || tab.Special[0].Identifier != nil {
		t.Fatalf("special %+v", tab.Special[0])
	}
	if got := renderCronTab(tab); got != saltCrontab {
		t.Fatalf("round trip:\n%s\nwant:\n%s", got, saltCrontab)
	}
	if got := renderCronTab(parseCronTab("")); got != cronTag+"\n" {
		t.Fatalf("empty crontab renders %q", got)
	}
}

func TestCronMatched(t *testing.T) {
	id := "backup"
	other := "other"
	j := cronJob{Cmd: "/bin/a", Identifier: &id}
	if !cronMatched(j, "/bin/changed", &id) {
		t.Fatal("identifier must match whatever the command")
	}
	if cronMatched(j, "/bin/a", &other) {
		t.Fatal("a different identifier must not match")
	}
	legacy := cronJob{Cmd: "/bin/a"}
	if !cronMatched(legacy, "/bin/a", &id) || !cronMatched(legacy, "/bin/a", nil) {
		t.Fatal("a job without identifier matches by command")
	}
	if cronMatched(legacy, "/bin/b", nil) {
		t.Fatal("different command, no identifiers: no match")
	}
}

func TestCronBadArgs(t *testing.T) {
	c := acctCtx()
	if _, err := c.Call("cron.set_job", nil, map[string]any{"cmd": "x"}); err == nil {
		t.Fatal("set_job without user must fail")
	}
	if _, err := c.Call("cron.set_job", nil, map[string]any{"user": "root", "cmd": "x", "commented": "perhaps"}); err == nil {
		t.Fatal("bad commented must fail")
	}
}

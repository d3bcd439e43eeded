package states

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/brine-cm/brine/pkg/testkit"
)

// cronUser creates a throwaway account whose crontab the test may edit,
// so the root crontab of the machine running the tests is never touched.
func cronUser(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("crontab"); err != nil {
		t.Skip("crontab not installed (CI installs cron)")
	}
	testkit.NeedAccounts(t)
	u := testkit.AccountName(t)
	if out, err := exec.Command("useradd", "-M", u).CombinedOutput(); err != nil {
		t.Fatal(string(out))
	}
	t.Cleanup(func() {
		exec.Command("crontab", "-u", u, "-r").Run()
		exec.Command("userdel", u).Run()
		exec.Command("groupdel", u).Run()
	})
	return u
}

func crontabOf(t *testing.T, u string) string {
	t.Helper()
	out, _ := exec.Command("crontab", "-u", u, "-l").Output()
	return string(out)
}

func TestCronPresentAbsent(t *testing.T) {
	u := cronUser(t)
	e := cmdTestEnv(t)
	job := "/usr/local/bin/backup --quiet"
	args := func() map[string]any {
		return map[string]any{"user": u, "minute": 5, "hour": "2", "comment": "nightly backup"}
	}
	r := e.run(cronPresent, job, true, args())
	expect(t, "test add", r, nil, "Cron "+job+" is set to be added", 1)
	if crontabOf(t, u) != "" {
		t.Fatal("test mode wrote the crontab")
	}
	r = e.run(cronPresent, job, false, args())
	expect(t, "add", r, yes, "Cron "+job+" added to "+u+"'s crontab", 1)
	if r.Changes[u] != job {
		t.Fatalf("changes %v", r.Changes)
	}
	want := "# Lines below here are managed by Salt, do not edit\n" +
		"# nightly backup SALT_CRON_IDENTIFIER:" + job + "\n" +
		"5 2 * * * " + job + "\n"
	if got := crontabOf(t, u); got != want {
		t.Fatalf("crontab:\n%s\nwant:\n%s", got, want)
	}
	expect(t, "again", e.run(cronPresent, job, false, args()), yes, "Cron "+job+" already present", 0)
	expect(t, "again test", e.run(cronPresent, job, true, args()), yes, "already present", 0)

	changed := args()
	changed["hour"] = 3
	expect(t, "test update", e.run(cronPresent, job, true, changed), nil, "is set to be updated", 1)
	expect(t, "update", e.run(cronPresent, job, false, changed), yes, "Cron "+job+" updated", 1)
	if !strings.Contains(crontabOf(t, u), "5 3 * * * "+job+"\n") {
		t.Fatal(crontabOf(t, u))
	}
	if strings.Count(crontabOf(t, u), "* * * "+job+"\n") != 1 {
		t.Fatal("job duplicated:\n" + crontabOf(t, u))
	}

	sp := map[string]any{"user": u, "special": "@reboot", "identifier": "boot"}
	expect(t, "special", e.run(cronPresent, "/bin/true", false, sp), yes, "added to", 1)
	expect(t, "special again", e.run(cronPresent, "/bin/true", false, sp), yes, "already present", 0)
	if !strings.Contains(crontabOf(t, u), "# SALT_CRON_IDENTIFIER:boot\n@reboot /bin/true\n") {
		t.Fatal(crontabOf(t, u))
	}

	env := map[string]any{"user": u, "value": "ops@example.com"}
	expect(t, "env test", e.run(cronEnvPresent, "MAILTO", true, env), nil, "Cron env MAILTO is set to be added", 1)
	expect(t, "env", e.run(cronEnvPresent, "MAILTO", false, env), yes, "Cron env MAILTO added to "+u+"'s crontab", 1)
	expect(t, "env again", e.run(cronEnvPresent, "MAILTO", false, env), yes, "Cron env MAILTO already present", 0)
	if !strings.Contains(crontabOf(t, u), "edit\nMAILTO=ops@example.com\n") {
		t.Fatal(crontabOf(t, u))
	}
	expect(t, "env absent", e.run(cronEnvAbsent, "MAILTO", false, map[string]any{"user": u}), yes, "Cron env MAILTO removed from", 1)
	expect(t, "env absent again", e.run(cronEnvAbsent, "MAILTO", false, map[string]any{"user": u}), yes, "already absent", 0)

	ab := map[string]any{"user": u}
	expect(t, "absent test", e.run(cronAbsent, job, true, ab), nil, "Cron "+job+" is set to be removed", 1)
	expect(t, "absent", e.run(cronAbsent, job, false, ab), yes, "Cron "+job+" removed from "+u+"'s crontab", 1)
	expect(t, "absent again", e.run(cronAbsent, job, false, ab), yes, "Cron "+job+" already absent", 0)
	expect(t, "absent again test", e.run(cronAbsent, job, true, ab), yes, "Cron "+job+" is absent", 0)
	if strings.Contains(crontabOf(t, u), "backup") {
		t.Fatal(crontabOf(t, u))
	}

	expect(t, "bad minute", e.run(cronPresent, job, false, map[string]any{"user": u, "minute": []any{1}}), no, `cron.present: argument "minute"`, 0)
	expect(t, "bad commented", e.run(cronPresent, job, false, map[string]any{"user": u, "commented": "sometimes"}), no, `cron.present: argument "commented"`, 0)
}

// TestCronKeepsForeignLines checks that lines above Salt's marker, which
// a person or another tool wrote, survive every edit.
func TestCronKeepsForeignLines(t *testing.T) {
	u := cronUser(t)
	e := cmdTestEnv(t)
	pre := "# my own job\n0 0 * * * /usr/bin/mine\n"
	cmd := exec.Command("crontab", "-u", u, "-")
	cmd.Stdin = strings.NewReader(pre)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatal(string(out))
	}
	expect(t, "add", e.run(cronPresent, "/bin/date", false, map[string]any{"user": u}), yes, "added", 1)
	got := crontabOf(t, u)
	if !strings.HasPrefix(got, pre+"# Lines below here are managed by Salt, do not edit\n") {
		t.Fatal(got)
	}
	res, err := e.ec.Call("cron.list_tab", []any{u}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tab := res.(map[string]any)
	crons := tab["crons"].([]any)
	if len(crons) != 1 || crons[0].(map[string]any)["identifier"] != "/bin/date" || len(tab["pre"].([]any)) != 2 {
		t.Fatalf("list_tab %v", tab)
	}
}

func TestCronCommentedAndRandom(t *testing.T) {
	u := cronUser(t)
	e := cmdTestEnv(t)
	args := func() map[string]any {
		return map[string]any{"user": u, "minute": "random", "hour": 4, "commented": true}
	}
	expect(t, "add", e.run(cronPresent, "/bin/job", false, args()), yes, "added", 1)
	tab := crontabOf(t, u)
	if !strings.Contains(tab, "#DISABLED#") || !strings.Contains(tab, " 4 * * * /bin/job\n") || strings.Contains(tab, "random") {
		t.Fatal(tab)
	}
	expect(t, "again", e.run(cronPresent, "/bin/job", false, args()), yes, "already present", 0)
	on := args()
	on["commented"] = false
	expect(t, "enable", e.run(cronPresent, "/bin/job", false, on), yes, "updated", 1)
	if strings.Contains(crontabOf(t, u), "#DISABLED#") {
		t.Fatal(crontabOf(t, u))
	}
	if crontabOf(t, u) != tab[:strings.Index(tab, "#DISABLED#")]+tab[strings.Index(tab, "#DISABLED#")+len("#DISABLED#"):] {
		t.Fatalf("minute changed on update:\n%s\nwas:\n%s", crontabOf(t, u), tab)
	}
}

package master

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// autosign implements Salt's autosign_file (id globs, one a line) and
// autosign_grains (a minion is accepted when its value of a listed grain
// appears in autosign_grains_dir/<grain>). Files are re-read on every
// decision so an operator's edit applies without a restart.
func (c *Config) autosign(id string, grains map[string]any) bool {
	if c.AutosignFile != "" {
		for _, g := range readLines(c.AutosignFile) {
			if ok, err := path.Match(g, id); (err == nil && ok) || g == id {
				return true
			}
		}
	}
	for _, name := range c.AutosignGrains {
		v, ok := grains[name]
		if !ok {
			continue
		}
		val := fmt.Sprint(v)
		for _, line := range readLines(filepath.Join(c.AutosignGrainsDir, name)) {
			if line == val {
				return true
			}
		}
	}
	return false
}

func readLines(p string) []string {
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

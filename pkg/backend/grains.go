package backend

import (
	"fmt"
	"os"
)

// GrainString returns a grain as a string ("" when absent or not a
// string), because backends are chosen from string grains only.
func GrainString(grains map[string]any, key string) string {
	if grains == nil {
		return ""
	}
	switch v := grains[key].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// releaseFiles maps a distribution marker file to its Salt os_family, for
// hosts whose grains lack os_family (masterless runs with static grains).
var releaseFiles = []struct{ path, family string }{
	{"/etc/debian_version", "Debian"},
	{"/etc/redhat-release", "RedHat"},
	{"/etc/alpine-release", "Alpine"},
	{"/etc/arch-release", "Arch"},
	{"/etc/SUSE-brand", "Suse"},
	{"/etc/gentoo-release", "Gentoo"},
}

// OSFamily returns the os_family grain, or, when it is missing, the family
// guessed from the distribution's release file, so backend selection
// still works with partial grains. It returns "" when nothing is known.
func OSFamily(grains map[string]any) string {
	if f := GrainString(grains, "os_family"); f != "" {
		return f
	}
	for _, rf := range releaseFiles {
		if _, err := os.Stat(rf.path); err == nil {
			return rf.family
		}
	}
	return ""
}

// IsDir reports whether path is an existing directory; probes use it for
// markers such as /run/systemd/system.
func IsDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

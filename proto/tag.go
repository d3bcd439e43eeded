package proto

import (
	"regexp"
	"strings"
)

// TagPattern compiles a glob on Salt-style event tags, which operators
// watch and reactor rules match: * matches any run of characters,
// slashes included (salt/job/*/ret/* spans the jid), ? one character;
// every other character stands for itself. An empty glob matches every
// tag.
func TagPattern(glob string) (*regexp.Regexp, error) {
	if glob == "" {
		glob = "*"
	}
	q := regexp.QuoteMeta(glob)
	q = strings.ReplaceAll(q, `\*`, `.*`)
	q = strings.ReplaceAll(q, `\?`, `.`)
	return regexp.Compile("^" + q + "$")
}

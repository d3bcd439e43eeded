package proto

import "testing"

func TestTagPattern(t *testing.T) {
	for _, c := range []struct {
		glob, tag string
		want      bool
	}{{"salt/job/*/ret/*", "salt/job/20260101000000000000/ret/web1", true}, {"salt/job/*/ret/*", "salt/job/1/new", false},
		{"", "salt/key", true}, {"salt/key", "salt/key", true}, {"salt/ke?", "salt/key", true}, {"salt/k", "salt/key", false},
		{"salt/(x)+", "salt/(x)+", true}, {"salt/(x)+", "salt/xx", false}} {
		re, err := TagPattern(c.glob)
		if err != nil || re.MatchString(c.tag) != c.want {
			t.Errorf("%q ~ %q: %v, want %v", c.glob, c.tag, err, c.want)
		}
	}
}

package render

import (
	"fmt"
	"sync"
	"testing"
)

// Renders share one environment; concurrent renders (a minion running
// several jobs) must not interfere.
func TestConcurrentRenders(t *testing.T) {
	ec := tree(t, map[string]string{"c/map.jinja": "{% set m = {'n': grains.id} %}"})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			src := []byte("{% from 'c/map.jinja' import m %}{% set l = [] %}{% for x in range(20) %}{% do l.append(x) %}{% endfor %}a: {{ m.n }}\nb: {{ l | length }}\nc: 1\n")
			node, err := SLS(ec, "c", "c/init.sls", src)
			if err != nil {
				errs <- err
				return
			}
			v, err := Decode(node)
			if err != nil {
				errs <- err
				return
			}
			m := v.(map[string]any)
			if m["a"] != "web1" || m["b"] != 20 {
				errs <- fmt.Errorf("render %d: unexpected output %v", i, m)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

package bus

import (
	"testing"
	"time"
)

func TestReconnectDelayJitteredAndCapped(t *testing.T) {
	f := ReconnectDelay(100*time.Millisecond, 2*time.Second)
	seen := map[time.Duration]bool{}
	for i := 0; i < 200; i++ {
		d := f(10)
		if d < time.Second || d > 2*time.Second {
			t.Fatalf("attempt 10 delay %v outside [1s,2s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Fatalf("delays not spread: %d distinct values", len(seen))
	}
	if d := f(1); d < 50*time.Millisecond || d > 100*time.Millisecond {
		t.Fatalf("first delay %v", d)
	}
}

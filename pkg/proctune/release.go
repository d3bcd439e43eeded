package proctune

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// ReleaseWhenIdle returns freed memory to the operating system once the
// process goes quiet after a burst. A master that has just accepted or
// answered 10,000 minions holds the heap the burst needed (the garbage
// collector lets the heap reach twice what is live) until its next
// collections, which an idle process runs only every two minutes; the
// host would see that peak as the master's size for minutes. Every
// interval it reads how much was allocated since the last look: after an
// interval with more than busy bytes allocated, the first interval with
// less runs one full collection and releases what it freed. It returns
// when ctx ends.
func ReleaseWhenIdle(ctx context.Context, interval time.Duration, busy uint64) {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return sample[0].Value.Uint64()
	}
	last, dirty := read(), true
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := read()
		switch {
		case now-last > busy:
			dirty = true
		case dirty:
			debug.FreeOSMemory()
			dirty = false
			now = read()
		}
		last = now
	}
}

package proctune

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// releaseGap is the least time between two releases: each is a full
// collection, and a process that is never quite idle must not pay for
// one every interval.
const releaseGap = 20 * time.Second

// ReleaseWhenIdle returns freed memory to the operating system once the
// process goes quiet after a burst. A master that has just accepted or
// answered 10,000 minions holds the heap the burst needed (the garbage
// collector lets the heap reach twice what is live) until its next
// collections, which an idle process runs only every two minutes; the
// host would see that peak as the master's size for minutes. Every
// interval it reads how much was allocated since the last look. A burst
// is an interval with more than busy bytes allocated; the first later
// interval with at most busy bytes, or a tenth of the burst's busiest
// interval (a large fleet keeps allocating a little even when idle),
// runs one full collection and releases what it freed, at most once
// every 20 s. It returns when ctx ends.
func ReleaseWhenIdle(ctx context.Context, interval time.Duration, busy uint64) {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return sample[0].Value.Uint64()
	}
	last := read()
	// The process's start-up counts as a burst: what it allocated
	// before this runs is released at the first quiet interval.
	peak := busy + 1 // busiest interval since the last release
	var released time.Time
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := read()
		delta := now - last
		last = now
		if delta > busy {
			peak = max(peak, delta)
		}
		quiet := delta <= busy || delta*10 <= peak
		if peak > busy && quiet && time.Since(released) >= releaseGap {
			debug.FreeOSMemory()
			released, peak, last = time.Now(), 0, read()
		}
	}
}

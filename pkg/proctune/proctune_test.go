package proctune

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brine-cm/brine/pkg/testkit"
)

func TestRaiseNoFileReachesHardLimit(t *testing.T) {
	got, err := RaiseNoFile()
	if err != nil {
		t.Fatal(err)
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if got != rl.Cur || rl.Cur != rl.Max {
		t.Fatalf("limit after raise: returned %d, soft %d, hard %d", got, rl.Cur, rl.Max)
	}
}

func TestServePprofLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:0", "example.com:0", "nonsense"} {
		if _, err := ServePprof(addr); err == nil {
			t.Errorf("ServePprof(%q) accepted a non-loopback address", addr)
		}
	}
	at, err := ServePprof("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + at + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Fatalf("pprof index: %d %.200s", resp.StatusCode, body)
	}
}

// After a burst of garbage, an idle interval releases it: the heap the
// runtime holds from the OS falls back near what is live.
func TestReleaseWhenIdleReturnsABurst(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	released := func() uint64 {
		s := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	before := released()
	burst := make([][]byte, 0, 256)
	for i := 0; i < 256; i++ {
		burst = append(burst, make([]byte, 256<<10)) // 64 MiB in all
	}
	runtime.KeepAlive(burst)
	burst = nil
	go ReleaseWhenIdle(ctx, 20*time.Millisecond, 1<<20)
	testkit.WaitFor(t, 20*time.Second, "the burst released", func() bool { return released() >= before+32<<20 })
}

package proctune

import (
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
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

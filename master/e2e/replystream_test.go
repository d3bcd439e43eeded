package e2e

import (
	"strings"
	"testing"
)

// TestRunLargerThanMaxRequestBytes runs a command whose returns together
// are several times the master's max_request_bytes: `run` still prints
// every return, as one JSON object. A return too large to send on its
// own fails alone, with an error for that minion.
func TestRunLargerThanMaxRequestBytes(t *testing.T) {
	ids := []string{"web1", "web2", "web3", "web4", "web5"}
	var ms []fleetMinion
	for _, id := range ids {
		ms = append(ms, fleetMinion{id, ""})
	}
	f := newFleet(t, "max_request_bytes: 65536\n", ms)

	// 5 x 40,000 bytes: three times what one message may carry.
	const size = 40000
	res, err := f.m.runJSON(t, "-t", "60", "*", "cmd.run", "printf '%040000d' 0")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if len(res) != len(ids) {
		t.Fatalf("run printed %d returns, want %d", len(res), len(ids))
	}
	for _, id := range ids {
		if s, _ := res[id].(string); len(s) != size || strings.Trim(s, "0") != "" {
			t.Fatalf("%s: %d bytes: %.80q", id, len(s), res[id])
		}
	}

	// Fits the limit as a minion's return, not inside a reply.
	res, err = f.m.runJSON(t, "-t", "60", "web1,web2", "-L", "cmd.run", "printf '%064000d' 0")
	if err == nil {
		t.Fatal("run with an oversized return exited 0")
	}
	for _, id := range []string{"web1", "web2"} {
		if s, _ := res[id].(string); !strings.Contains(s, "return too large to send to the operator") {
			t.Fatalf("%s: %.200q (%v)", id, res[id], err)
		}
	}
}

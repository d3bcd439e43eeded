package audit

import (
	"bytes"
	"testing"
)

// FuzzVerifyEntries feeds arbitrary streams to the verifier: it must never
// panic, and must accept only streams that chain from the start.
func FuzzVerifyEntries(f *testing.F) {
	dir := f.TempDir()
	l, err := Open(dir, Options{SegmentSize: 400, Signer: NewEd25519Signer(newKey(f))})
	if err != nil {
		f.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		if _, err := l.Append(Entry{Actor: "web1", Action: "cmd.run", Target: "ls", Args: map[string]any{"n": i}}); err != nil {
			f.Fatal(err)
		}
	}
	lines, err := l.ReadFrom(1, 0)
	l.Close()
	if err != nil {
		f.Fatal(err)
	}
	good := joinLines(lines)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(bytes.Replace(good, []byte(`"n":3`), []byte(`"n":4`), 1))
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"type":"checkpoint","prev":"` + ZeroHash + `","sig":"AAAA","signer":"ed25519:AAAA"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := VerifyEntries(bytes.NewReader(data), Position{}, nil)
		if err == nil && rep.Problem != nil {
			t.Fatal("problem reported without an error")
		}
		if err == nil && rep.Entries > 0 && !bytes.HasPrefix(data, good[:bytes.IndexByte(good, '\n')]) {
			// Any accepted stream starts with an entry whose prev is zeros;
			// only the real first line (or a forged chain from scratch) can.
			if !bytes.Contains(data[:bytes.IndexByte(data, '\n')], []byte(ZeroHash)) {
				t.Fatalf("accepted a stream that does not start the chain: %q", data)
			}
		}
	})
}

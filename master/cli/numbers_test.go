package cli

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/brine-cm/brine/proto"
)

func TestFixNumbers(t *testing.T) {
	in := `{"v":1,"jid":"x","returns":{"m1":{"jid":"x","id":"m1","return":{"pid":21934,"retcode":0,"load":1.5,"list":[1,2.5,{"n":3}]},"retcode":0}}}`
	var rep proto.RunReply
	dec := json.NewDecoder(bytes.NewReader([]byte(in)))
	dec.UseNumber()
	if err := dec.Decode(&rep); err != nil {
		t.Fatal(err)
	}
	fixNumbers(&rep)
	r := rep.Returns["m1"].Return.(map[string]any)
	if r["pid"] != int64(21934) || r["retcode"] != int64(0) || r["load"] != 1.5 {
		t.Fatalf("numbers: %#v", r)
	}
	l := r["list"].([]any)
	if l[0] != int64(1) || l[1] != 2.5 || l[2].(map[string]any)["n"] != int64(3) {
		t.Fatalf("list: %#v", l)
	}
}

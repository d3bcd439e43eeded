package proto

import (
	"errors"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the decoder every master handler
// uses for key requests, key statuses, operator key commands and hellos:
// it never panics, never accepts more than the limit, and what it accepts
// is one JSON object that decodes again the same way.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"id":"web1","nkey":"UABC","grains":{"os":"Debian"}}`,
		`{"v":1,"id":"web1"} {"v":1}`,
		`{"v":1,"match":["web*"],"all":true,"include":["rejected"]}`,
		`{"v":1,"state":"accepted","master_key":"NABC"}`,
		`[1,2,3]`, `null`, `"x"`, `{"v":1,"grains":{"a":[[[[[[[]]]]]]]}}`, "\x00\xff", ``,
	} {
		f.Add([]byte(s))
	}
	const limit = 4096
	f.Fuzz(func(t *testing.T, b []byte) {
		var kr KeyRequest
		errKR := Decode(b, limit, &kr)
		if len(b) > limit && !errors.Is(errKR, ErrTooLarge) {
			t.Fatalf("%d bytes accepted over a %d limit: %v", len(b), limit, errKR)
		}
		var again KeyRequest
		if errKR == nil {
			if err := Decode(b, limit, &again); err != nil {
				t.Fatalf("accepted once, refused the second time: %v", err)
			}
			if again.ID != kr.ID || again.Nkey != kr.Nkey || again.V != kr.V {
				t.Fatalf("decoded differently: %+v vs %+v", kr, again)
			}
		}
		var kc KeyCmd
		_ = Decode(b, limit, &kc)
		var st KeyStatus
		_ = Decode(b, limit, &st)
		var h Hello
		_ = Decode(b, limit, &h)
	})
}

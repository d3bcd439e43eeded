package render

import (
	"encoding/json"
	"reflect"
	"testing"
)

func assertEqual(t *testing.T, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("mismatch\n got: %s (%#v)\nwant: %s", g, got, w)
	}
}

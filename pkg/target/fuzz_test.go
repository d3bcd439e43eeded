package target

import (
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"
)

func FuzzParse(f *testing.F) {
	for _, tc := range matchCases {
		f.Add(uint8(tc.kind), tc.expr)
	}
	for _, tc := range errorCases {
		f.Add(uint8(tc.kind), tc.expr)
	}
	f.Fuzz(func(t *testing.T, k uint8, expr string) {
		kind := Kind(k % uint8(Compound+1))
		e, err := Parse(kind, expr, testOpts)
		if err != nil {
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("error %v is %T, want *Error", err, err)
			}
			if te.Expr != expr {
				t.Fatalf("Expr = %q, want %q", te.Expr, expr)
			}
			if te.Col < 1 || te.Col > utf8.RuneCountInString(expr)+1 {
				t.Fatalf("column %d outside %q", te.Col, expr)
			}
			if e != nil {
				t.Fatalf("non-nil Expr with error")
			}
			return
		}
		if e == nil {
			t.Fatal("nil Expr without error")
		}
		got := matchIDs(e)
		if kind != Compound {
			return
		}
		s := e.String()
		e2, err := Parse(Compound, s, testOpts)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not reparse: %v", s, expr, err)
		}
		if s2 := e2.String(); s2 != s {
			t.Fatalf("canonical form not stable: %q -> %q", s, s2)
		}
		if got2 := matchIDs(e2); !reflect.DeepEqual(got, got2) {
			t.Fatalf("%q matched %v, canonical %q matched %v", expr, got, s, got2)
		}
	})
}

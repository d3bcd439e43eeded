package cli

import (
	"encoding/json"
	"reflect"
)

// fixNumbers replaces every json.Number inside v (decoded with
// UseNumber) by an int64 when it is integral and a float64 otherwise, so
// a minion's `retcode: 0` prints as 0 and not as 0.0, as Salt prints it.
func fixNumbers(v any) {
	walk(reflect.ValueOf(v))
}

func number(n json.Number) any {
	if i, err := n.Int64(); err == nil {
		return i
	}
	if f, err := n.Float64(); err == nil {
		return f
	}
	return n.String()
}

// walk fixes numbers below v in place; it returns a replacement for an
// interface value that held a json.Number (invalid when none).
func walk(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			walk(v.Elem())
		}
	case reflect.Interface:
		if v.IsNil() {
			return reflect.Value{}
		}
		e := v.Elem()
		if n, ok := e.Interface().(json.Number); ok {
			return reflect.ValueOf(number(n))
		}
		if e.Kind() == reflect.Map || e.Kind() == reflect.Slice || e.Kind() == reflect.Pointer {
			walk(e)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Field(i)
			if !f.CanSet() {
				continue
			}
			if r := walk(f); r.IsValid() {
				f.Set(r)
			}
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			e := v.MapIndex(k)
			if e.Kind() == reflect.Interface {
				if r := walk(e); r.IsValid() {
					v.SetMapIndex(k, r)
				}
				continue
			}
			if e.Kind() == reflect.Struct {
				c := reflect.New(e.Type()).Elem()
				c.Set(e)
				walk(c)
				v.SetMapIndex(k, c)
				continue
			}
			walk(e)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			if r := walk(v.Index(i)); r.IsValid() {
				v.Index(i).Set(r)
			}
		}
	}
	return reflect.Value{}
}

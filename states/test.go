package states

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/brine-cm/brine/proto"
)

// Test is Salt's `test` state module: states whose outcome is chosen by
// their arguments, so requisites, ordering and output can be exercised
// (and SLS trees using them for controlled failure run unchanged).
func Test() *Module {
	return &Module{
		Name: "test",
		Funcs: map[string]Func{
			"nop":                     testNop,
			"succeed_without_changes": testSucceedWithoutChanges,
			"fail_without_changes":    testFailWithoutChanges,
			"succeed_with_changes":    testSucceedWithChanges,
			"fail_with_changes":       testFailWithChanges,
			"configurable_test_state": testConfigurable,
			"show_notification":       testShowNotification,
		},
		ModWatch: testModWatch,
	}
}

func testChangeData() map[string]any {
	return map[string]any{"testing": map[string]any{"old": "Unchanged", "new": "Something pretended to change"}}
}

func argComment(r *Request, def string) string {
	if c, ok := r.Args["comment"]; ok && c != nil {
		return fmt.Sprint(c)
	}
	return def
}

func testNop(r *Request) Result {
	return Result{Result: proto.BoolPtr(true), Changes: map[string]any{}, Comment: "Success!"}
}

func testSucceedWithoutChanges(r *Request) Result {
	return Result{Result: proto.BoolPtr(true), Changes: map[string]any{}, Comment: argComment(r, "Success!")}
}

func testFailWithoutChanges(r *Request) Result {
	res := Result{Result: proto.BoolPtr(false), Changes: map[string]any{}, Comment: argComment(r, "Failure!")}
	if r.Test() {
		res.Comment = "If we weren't testing, this would be a failure!"
	}
	return res
}

func testSucceedWithChanges(r *Request) Result {
	res := Result{Result: proto.BoolPtr(true), Changes: testChangeData(), Comment: argComment(r, "Success!")}
	if r.Test() {
		res.Result = nil
		res.Comment = "If we weren't testing, this would be successful with changes"
	}
	return res
}

func testFailWithChanges(r *Request) Result {
	res := Result{Result: proto.BoolPtr(false), Changes: testChangeData(), Comment: argComment(r, "Failure!")}
	if r.Test() {
		res.Result = nil
		res.Comment = "If we weren't testing, this would be failed with changes"
	}
	return res
}

// triState reads an argument that is True, False or "Random".
func triState(v any, present bool) (val, random, ok bool) {
	if !present {
		return true, false, true
	}
	switch t := v.(type) {
	case bool:
		return t, false, true
	case string:
		if strings.EqualFold(t, "random") {
			return false, true, true
		}
	}
	return false, false, false
}

func testConfigurable(r *Request) Result {
	comment := ""
	if c, ok := r.Args["comment"]; ok && c != nil {
		comment = fmt.Sprint(c)
	}
	res := Result{Result: proto.BoolPtr(false), Changes: map[string]any{}, Comment: comment}
	cv, cpresent := r.Args["changes"]
	changes, crandom, ok := triState(cv, cpresent)
	if !ok {
		res.Comment = "You have specified the state option 'changes' with invalid arguments. It must be either True, False, or 'Random'"
		return res
	}
	if changes || (crandom && rand.IntN(2) == 0) {
		res.Changes = testChangeData()
	}
	rv, rpresent := r.Args["result"]
	result, rrandom, ok := triState(rv, rpresent)
	if !ok {
		res.Comment = "You have specified the state option 'result' with invalid arguments. It must be either True, False, or 'Random'"
		return res
	}
	if rrandom {
		result = rand.IntN(2) == 0
	}
	res.Result = proto.BoolPtr(result)
	if w, ok := r.Args["warnings"]; ok && w != nil {
		switch w.(type) {
		case string, []any:
		default:
			res.Result = proto.BoolPtr(false)
			res.Comment = "You have specified the state option 'warnings' with invalid arguments. It must be a string or a list of strings"
			return res
		}
	}
	if r.Test() {
		if cpresent && !crandom && !changes {
			res.Result = proto.BoolPtr(true)
		} else {
			res.Result = nil
		}
		if comment == "" {
			res.Comment = "This is a test"
		}
	}
	return res
}

func testShowNotification(r *Request) Result {
	text, _ := r.Args["text"].(string)
	if text == "" {
		return Result{Result: proto.BoolPtr(false), Changes: map[string]any{}, Comment: "Missing required argument text."}
	}
	return Result{Result: proto.BoolPtr(true), Changes: map[string]any{}, Comment: text}
}

// testModWatch reports which watched states changed; result, comment
// and changes can be overridden by the state's own arguments, as in Salt.
func testModWatch(r *Request) Result {
	res := Result{Result: proto.BoolPtr(true), Comment: "Watch statement fired."}
	if v, ok := r.Args["result"].(bool); ok {
		res.Result = proto.BoolPtr(v)
	}
	if c, ok := r.Args["comment"]; ok && c != nil {
		res.Comment = fmt.Sprint(c)
	}
	if ch, ok := r.Args["changes"].(map[string]any); ok {
		res.Changes = ch
	} else {
		changed, _ := r.Args["__watch_changed__"].([]any)
		if changed == nil {
			changed = []any{}
		}
		res.Changes = map[string]any{"Requisites with changes": changed}
	}
	return res
}

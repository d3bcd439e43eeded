package render

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// gonja evaluates `a % b` as integer modulo only (and panics on zero),
// while formulas write Python's '%s-%s' % (a, b). After parsing, every
// modulo node is rewritten in place into
//
//	(a | __pymod(b)) or (none | __pymod_last)
//
// The first filter implements Python's % for strings and numbers; when its
// result is falsy (0, "") `or` evaluates the second filter, which returns
// that same stashed result, so the expression's value is exactly a % b and
// each operand is evaluated once.

const (
	pymodFilter     = "__pymod"
	pymulFilter     = "__pymul"
	pydivFilter     = "__pydiv"
	pyfloorFilter   = "__pyfloordiv"
	pypowFilter     = "__pypow"
	pymodLastFilter = "__pymod_last"
)

var (
	typeOutput = reflect.TypeFor[*nodes.Output]()
	typeCall   = reflect.TypeFor[*nodes.Call]()
	typeBinary = reflect.TypeFor[*nodes.BinaryExpression]()
	typeToken  = reflect.TypeFor[*tokens.Token]()
)

// rewriteModulo finds every modulo and multiplication expression reachable
// from root (and mends method calls on parenthesised receivers).
func rewriteModulo(root *nodes.Template) {
	seen := map[uintptr]bool{}
	var walk func(v reflect.Value, depth int)
	walk = func(v reflect.Value, depth int) {
		if depth > 10000 {
			return
		}
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() || v.Type() == typeToken {
				return
			}
			p := v.Pointer()
			if seen[p] {
				return
			}
			seen[p] = true
			if v.Type() == typeBinary {
				be := (*nodes.BinaryExpression)(v.UnsafePointer())
				walk(v.Elem(), depth+1)
				rewriteOne(be)
				return
			}
			if v.Type() == typeOutput {
				o := (*nodes.Output)(v.UnsafePointer())
				wrapOutput(&o.Expression)
				wrapOutput(&o.Alternative)
			}
			if v.Type() == typeCall {
				// gonja leaves the receiver unset for a method called on a
				// parenthesised expression: (x or {}).get('k').
				c := (*nodes.Call)(v.UnsafePointer())
				if ga, ok := c.Func.(*nodes.GetAttribute); ok && c.Parent == nil && ga.Node != nil {
					c.Parent = ga.Node
				}
			}
			walk(v.Elem(), depth+1)
		case reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem(), depth+1)
			}
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				walk(v.Field(i), depth+1)
			}
		case reflect.Slice, reflect.Array:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i), depth+1)
			}
		case reflect.Map:
			iter := v.MapRange()
			for iter.Next() {
				walk(iter.Value(), depth+1)
			}
		}
	}
	walk(reflect.ValueOf(root), 0)
}

// pyoutFilter makes {{ }} print None as Jinja does for values that are
// defined (a call's result, the none literal, a variable set to none),
// while undefined names and missing keys still print empty.
const pyoutFilter = "__pyout"

func wrapOutput(expr *nodes.Expression) {
	if expr == nil || *expr == nil {
		return
	}
	var args []nodes.Expression
	switch e := (*expr).(type) {
	case *nodes.Call, *nodes.None:
	case *nodes.Name:
		if e.Name == nil {
			return
		}
		if v := e.Name.Val; v != "none" && v != "None" {
			args = []nodes.Expression{&nodes.String{Location: e.Name, Val: v}}
		}
	case *nodes.GetAttribute:
		// d.key: None when d holds key with a None value. The container
		// is evaluated again, so only side-effect-free chains qualify.
		if !pureChain(e.Node) || e.Attribute == "" {
			return
		}
		args = []nodes.Expression{e.Node, &nodes.String{Location: e.Location, Val: e.Attribute}}
	case *nodes.GetItem:
		if !pureChain(e.Node) || !literalKey(e.Arg) {
			return
		}
		args = []nodes.Expression{e.Node, e.Arg}
	default:
		return
	}
	pos := (*expr).Position()
	*expr = &nodes.FilteredExpression{
		Expression: *expr,
		Filters:    []*nodes.FilterCall{{Token: pos, Name: pyoutFilter, Args: args}},
	}
}

// pureChain reports whether n is a name followed by attribute or literal
// item lookups, which can be evaluated twice without side effects.
func pureChain(n nodes.Node) bool {
	switch e := n.(type) {
	case *nodes.Name:
		return e.Name != nil
	case *nodes.GetAttribute:
		return e.Attribute != "" && pureChain(e.Node)
	case *nodes.GetItem:
		return literalKey(e.Arg) && pureChain(e.Node)
	}
	return false
}

func literalKey(n nodes.Node) bool {
	switch n.(type) {
	case *nodes.String, *nodes.Integer:
		return true
	}
	return false
}

func rewriteOne(be *nodes.BinaryExpression) {
	if be.Operator == nil || be.Operator.Token == nil || be.Left == nil || be.Right == nil {
		return
	}
	var filter string
	switch be.Operator.Token.Type {
	case tokens.Modulo:
		filter = pymodFilter
	case tokens.Multiply:
		filter = pymulFilter
	case tokens.Division:
		filter = pydivFilter
	case tokens.FloorDivision:
		filter = pyfloorFilter
	case tokens.Power:
		filter = pypowFilter
	default:
		return
	}
	op := be.Operator.Token
	loc := *op
	be.Left = &nodes.FilteredExpression{
		Expression: be.Left,
		Filters:    []*nodes.FilterCall{{Token: &loc, Name: filter, Args: []nodes.Expression{be.Right}}},
	}
	be.Right = &nodes.FilteredExpression{
		Expression: &nodes.None{Location: &loc},
		Filters:    []*nodes.FilterCall{{Token: &loc, Name: pymodLastFilter}},
	}
	orTok := loc
	orTok.Type = tokens.Or
	orTok.Val = "or"
	be.Operator = &nodes.BinOperator{Token: &orTok}
}

func pymodFilters() map[string]exec.FilterFunction {
	binary := func(op func(l, r *exec.Value) (any, error)) exec.FilterFunction {
		return func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			right := exec.AsValue(nil)
			if len(va.Args) > 0 {
				right = va.Args[0]
			}
			out, err := op(in, right)
			if err != nil {
				return errValue(e, err)
			}
			if st := stateOf(e.Environment.Context); st != nil {
				st.lastMod = out
			}
			return exec.AsValue(out)
		}
	}
	return map[string]exec.FilterFunction{
		pyoutFilter: func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			if !in.IsNil() {
				return in
			}
			switch len(va.Args) {
			case 0:
				return exec.AsValue("None")
			case 1:
				if e.Environment.Context.Has(va.Args[0].String()) {
					return exec.AsValue("None")
				}
			case 2:
				if hasKey(va.Args[0], va.Args[1]) {
					return exec.AsValue("None")
				}
			}
			return in
		},
		pymodFilter:   binary(pyMod),
		pymulFilter:   binary(pyMul),
		pydivFilter:   binary(pyDiv),
		pyfloorFilter: binary(pyFloorDiv),
		pypowFilter:   binary(pyPow),
		pymodLastFilter: func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			if st := stateOf(e.Environment.Context); st != nil {
				return exec.AsValue(st.lastMod)
			}
			return exec.AsValue(nil)
		},
	}
}

func pyMod(l, r *exec.Value) (any, error) {
	if l.IsString() {
		return pyFormat(l.String(), r)
	}
	if l.IsInteger() && r.IsInteger() {
		a, b := l.Integer(), r.Integer()
		if b == 0 {
			return nil, errors.New("integer division or modulo by zero")
		}
		m := a % b
		if m != 0 && (m < 0) != (b < 0) {
			m += b
		}
		return m, nil
	}
	if l.IsNumber() && r.IsNumber() {
		a, b := l.Float(), r.Float()
		if b == 0 {
			return nil, errors.New("float modulo by zero")
		}
		m := math.Mod(a, b)
		if m != 0 && (m < 0) != (b < 0) {
			m += b
		}
		return m, nil
	}
	return nil, fmt.Errorf("unsupported operand types for %%: %q and %q", l.String(), r.String())
}

func numbers(op string, l, r *exec.Value) error {
	if !l.IsNumber() || !r.IsNumber() {
		return fmt.Errorf("unsupported operand types for %s: %q and %q", op, l.String(), r.String())
	}
	return nil
}

func pyDiv(l, r *exec.Value) (any, error) {
	if err := numbers("/", l, r); err != nil {
		return nil, err
	}
	if r.Float() == 0 {
		return nil, errors.New("division by zero")
	}
	return l.Float() / r.Float(), nil
}

func pyFloorDiv(l, r *exec.Value) (any, error) {
	if err := numbers("//", l, r); err != nil {
		return nil, err
	}
	if r.Float() == 0 {
		return nil, errors.New("integer division or modulo by zero")
	}
	if l.IsInteger() && r.IsInteger() {
		a, b := l.Integer(), r.Integer()
		q := a / b
		if (a%b != 0) && ((a < 0) != (b < 0)) {
			q--
		}
		return q, nil
	}
	return math.Floor(l.Float() / r.Float()), nil
}

func pyPow(l, r *exec.Value) (any, error) {
	if err := numbers("**", l, r); err != nil {
		return nil, err
	}
	if l.IsInteger() && r.IsInteger() && r.Integer() >= 0 {
		f := math.Pow(float64(l.Integer()), float64(r.Integer()))
		if math.Abs(f) < 1<<62 {
			out := 1
			for range r.Integer() {
				out *= l.Integer()
			}
			return out, nil
		}
		return f, nil
	}
	return math.Pow(l.Float(), r.Float()), nil
}

// pyFormat implements Python's printf-style string formatting.
func pyFormat(format string, arg *exec.Value) (string, error) {
	var args []any
	var named map[string]any
	switch t := toJinja(arg.Interface()).(type) {
	case *pyList:
		args = *t
	case pyDict:
		named = t
		args = []any{t}
	default:
		args = []any{t}
	}
	var b strings.Builder
	next := 0
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(format) {
			return "", errors.New("incomplete format")
		}
		var val any
		haveVal := false
		if format[i] == '(' {
			end := strings.IndexByte(format[i:], ')')
			if end < 0 || named == nil {
				return "", errors.New("format requires a mapping")
			}
			key := format[i+1 : i+end]
			v, ok := named[key]
			if !ok {
				return "", fmt.Errorf("KeyError: %q", key)
			}
			val, haveVal = v, true
			i += end + 1
		}
		start := i
		for i < len(format) && strings.IndexByte("-+ #0123456789.", format[i]) >= 0 {
			i++
		}
		if i >= len(format) {
			return "", errors.New("incomplete format")
		}
		spec := format[start:i]
		verb := format[i]
		if reBigWidth.MatchString(spec) || len(spec) > 12 {
			return "", fmt.Errorf("format width %q: %w", spec, errTooLarge)
		}
		if verb == '%' {
			b.WriteByte('%')
			continue
		}
		if !haveVal {
			if next >= len(args) {
				return "", errors.New("not enough arguments for format string")
			}
			val = args[next]
			next++
		}
		v := exec.ToValue(val)
		switch verb {
		case 's', 'r', 'a':
			s := v.String()
			if verb == 'r' && v.IsString() {
				s = "'" + s + "'"
			}
			b.WriteString(fmt.Sprintf("%"+spec+"s", s))
		case 'd', 'i', 'u':
			if !v.IsNumber() {
				return "", fmt.Errorf("%%%c format: a number is required, not %q", verb, v.String())
			}
			b.WriteString(fmt.Sprintf("%"+spec+"d", int(v.Float())))
		case 'f', 'F', 'e', 'E', 'g', 'G':
			if !v.IsNumber() {
				return "", fmt.Errorf("%%%c format: a number is required, not %q", verb, v.String())
			}
			if verb == 'f' || verb == 'F' {
				if !strings.Contains(spec, ".") {
					spec += ".6"
				}
			}
			b.WriteString(fmt.Sprintf("%"+spec+string(verb), v.Float()))
		case 'x', 'X', 'o':
			if !v.IsInteger() {
				return "", fmt.Errorf("%%%c format: an integer is required, not %q", verb, v.String())
			}
			b.WriteString(fmt.Sprintf("%"+spec+string(verb), v.Integer()))
		case 'c':
			if v.IsInteger() {
				b.WriteRune(rune(v.Integer()))
			} else {
				b.WriteString(v.String())
			}
		default:
			return "", fmt.Errorf("unsupported format character %q", strconv.QuoteRune(rune(verb)))
		}
	}
	if named == nil && next < len(args) {
		return "", errors.New("not all arguments converted during string formatting")
	}
	return b.String(), nil
}

// hasKey reports whether container holds key (a dict key or list index).
func hasKey(container, key *exec.Value) bool {
	switch t := toJinja(container.Interface()).(type) {
	case pyDict:
		_, ok := t[key.String()]
		return ok
	case *pyList:
		if !key.IsInteger() {
			return false
		}
		i := key.Integer()
		if i < 0 {
			i += len(*t)
		}
		return i >= 0 && i < len(*t)
	}
	return false
}

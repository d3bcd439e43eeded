// Package states holds the state modules (Salt's `salt.states`): the
// declarative functions such as file.managed or pkg.installed that converge
// a host, plus the Chunk type the compiler produces and the engine runs.
// Each module is one file registered in builtin.go.
package states

import (
	"fmt"
	"sort"
	"sync"

	"github.com/brine-cm/brine/pkg/execmod"
)

// Pos locates a state in its SLS source so every error can say file:line.
type Pos struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
}

// String formats the position as "file:line:col".
func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Chunk is one low-state entry: a single module.function call on one name,
// with every argument (requisites included) as Salt's lowstate has it.
// The compiler produces chunks; the engine orders and runs them.
type Chunk struct {
	State string         `json:"state"`   // module, e.g. "file"
	Fun   string         `json:"fun"`     // function, e.g. "managed"
	ID    string         `json:"__id__"`  // state ID
	Name  string         `json:"name"`    // resolved name
	SLS   string         `json:"__sls__"` // SLS the ID came from
	Env   string         `json:"__env__"` // saltenv
	Order any            `json:"order"`   // int, "first", "last" or nil
	Args  map[string]any `json:"-"`       // every other argument, requisites included
	Pos   Pos            `json:"-"`       // where the ID was declared
	Index int            `json:"-"`       // definition order across the compiled run
}

// Request is what a state function receives: the chunk's arguments and
// the execution context (grains, pillar, test mode, file client, registry).
type Request struct {
	Exec *execmod.Context
	ID   string
	Name string
	SLS  string
	Args map[string]any
	// Watch is true when called as mod_watch because a watched state changed.
	Watch bool
}

// Test reports whether the run is test=True (global or per-state).
func (r *Request) Test() bool {
	if v, ok := r.Args["test"].(bool); ok {
		return v
	}
	return r.Exec != nil && r.Exec.Test
}

// Result is what a state function returns; the engine adds timing,
// run number and the requisite-derived outcomes.
type Result struct {
	Result  *bool
	Changes map[string]any
	Comment string
	Name    string // optional override of the reported name
}

// Func is a state function.
type Func func(r *Request) Result

// Module is a state module: its functions and, when it reacts to watch,
// its mod_watch.
type Module struct {
	Name  string
	Funcs map[string]Func
	// ModWatch runs instead of the function when a watched state reported
	// changes (service restart, cmd.wait run, ...). Nil means "no mod_watch":
	// Salt then just runs the state normally.
	ModWatch Func
	// Args lists the arguments each function accepts, beyond the common
	// ones (name, requisites, guards), so the reference documentation can
	// be checked against the code. Arguments outside the list are not
	// refused: like Salt's state functions taking **kwargs, a state
	// ignores arguments it does not know.
	Args map[string][]string
}

// Registry maps module names to modules. It is a value, like
// http.ServeMux, so tests can register fakes next to the builtins.
type Registry struct {
	mu sync.RWMutex
	m  map[string]*Module
}

// NewRegistry returns an empty registry; Builtin returns the standard set.
func NewRegistry() *Registry { return &Registry{m: map[string]*Module{}} }

// Register adds a module; it panics on a duplicate or empty name because
// that is a programming error.
func (r *Registry) Register(m *Module) {
	if m == nil || m.Name == "" {
		panic("states: empty module registration")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[m.Name]; dup {
		panic("states: duplicate module " + m.Name)
	}
	r.m[m.Name] = m
}

// Lookup returns the module and function for "module.function".
func (r *Registry) Lookup(module, fun string) (*Module, Func, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m, ok := r.m[module]
	if !ok {
		return nil, nil, false
	}
	f, ok := m.Funcs[fun]
	return m, f, ok
}

// Module returns a module by name.
func (r *Registry) Module(name string) (*Module, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m, ok := r.m[name]
	return m, ok
}

// Names lists the registered "module.function" names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for n, m := range r.m {
		for f := range m.Funcs {
			out = append(out, n+"."+f)
		}
	}
	sort.Strings(out)
	return out
}

package states

// builtins lists every built-in state module, one constructor per module
// file, so the whole standard set is visible in one place.
var builtins = []func() *Module{
	File,
	Cmd,
	User,
	Group,
	Cron,
	Pkg,
	Service,
	Test,
}

// Builtin returns a registry holding every built-in state module.
func Builtin() *Registry {
	r := NewRegistry()
	for _, m := range builtins {
		r.Register(m())
	}
	return r
}

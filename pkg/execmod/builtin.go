package execmod

// builtins lists every built-in execution module. Adding a module is one
// file with a register function plus one line here, so a reviewer sees
// the whole standard set in one place.
var builtins = []func(*Registry){
	registerTest,
	registerCmd,
	registerGrains,
	registerPillar,
	registerSys,
	registerConfig,
	registerDefaults,
	registerSlsutil,
	registerLog,
	registerFile,
	registerCp,
	registerNetwork,
	registerPkg,
	registerService,
	registerUser,
	registerGroup,
	registerCron,
}

// Builtin returns a registry holding every built-in execution module.
func Builtin() *Registry {
	r := NewRegistry()
	for _, reg := range builtins {
		reg(r)
	}
	return r
}

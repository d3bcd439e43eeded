package proto

// StateResult is one state's outcome in Salt's return shape, so that tools
// written for `salt-call --out json` read brine's output unchanged.
type StateResult struct {
	// ID is the state ID from the SLS (Salt's __id__).
	ID string `json:"__id__" yaml:"__id__"`
	// Name is the resolved name argument of the state.
	Name string `json:"name" yaml:"name"`
	// Result is true, false, or nil for "would change" in test mode.
	Result *bool `json:"result" yaml:"result"`
	// Changes holds what changed (or would change in test mode).
	Changes map[string]any `json:"changes" yaml:"changes"`
	// Comment explains the result for a human.
	Comment string `json:"comment" yaml:"comment"`
	// SLS is the SLS file the state came from (Salt's __sls__).
	SLS string `json:"__sls__" yaml:"__sls__"`
	// RunNum is the execution order (Salt's __run_num__).
	RunNum int `json:"__run_num__" yaml:"__run_num__"`
	// StartTime is the local wall-clock start, formatted as Salt does
	// ("15:04:05.000000").
	StartTime string `json:"start_time" yaml:"start_time"`
	// Duration is the run time in milliseconds, as Salt reports it.
	Duration float64 `json:"duration" yaml:"duration"`
}

// StateKey builds Salt's result key `<module>_|-<id>_|-<name>_|-<function>`,
// the key every Salt tool uses to address one state's result.
func StateKey(module, id, name, fun string) string {
	return module + "_|-" + id + "_|-" + name + "_|-" + fun
}

// BoolPtr exists because a state result is tri-state (true, false, nil in
// test mode) and Go has no literal for a pointer to a bool.
func BoolPtr(b bool) *bool { return &b }

package execmod

import "log/slog"

// registerLog adds Salt's log module so templates and operators can write
// to the minion's log ({{ salt['log.info']('rendering web') }}).
func registerLog(r *Registry) {
	for _, l := range []struct {
		name  string
		level slog.Level
	}{
		{"debug", slog.LevelDebug},
		{"info", slog.LevelInfo},
		{"warning", slog.LevelWarn},
		{"error", slog.LevelError},
		{"critical", slog.LevelError + 4},
		{"exception", slog.LevelError},
	} {
		level := l.level
		fn := "log." + l.name
		r.Register(fn, "Write a message to the minion log at "+l.name+" level.\nCLI Example: brine-master run '*' "+fn+" 'a message'",
			func(c *Context, args []any, kwargs map[string]any) (any, error) {
				kw, err := Bind(fn, args, kwargs, "message")
				if err != nil {
					return nil, err
				}
				if err := Require(fn, kw, "message"); err != nil {
					return nil, err
				}
				msg, ok := ToString(kw["message"])
				if !ok {
					msg = describe(kw["message"])
				}
				c.Logger().Log(c.Context(), level, msg, "source", "log module")
				return nil, nil
			})
	}
}

package states

import (
	"errors"

	"github.com/brine-cm/brine/pkg/execmod"
)

// renderFileJinja renders a managed file's template. It is a variable so
// that the renderer is wired in one place.
var renderFileJinja = func(ec *execmod.Context, name string, src []byte, vars map[string]any) (string, error) {
	return "", errors.New("jinja renderer not available")
}

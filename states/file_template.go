package states

import (
	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/render"
)

// renderFileJinja renders a managed file's (or script's) Jinja template
// with the run's grains, pillar and opts plus the state's context and
// defaults. It is a variable so the renderer is wired in one place.
var renderFileJinja = func(ec *execmod.Context, name string, src []byte, vars map[string]any) (string, error) {
	return render.Jinja(ec, name, src, vars)
}

package goplugin

import "fmt"

// wrap names the plugin, its path and the function in err.
func (p *Plugin) wrap(function string, err error) error {
	return fmt.Errorf("plugin %q (%s): %s: %w", p.name, p.path, function, err)
}

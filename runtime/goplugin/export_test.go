package goplugin

// ProcessExited reports whether go-plugin has seen p's process exit (or p
// has none): a test that kills the process waits for this rather than
// sleeping.
func ProcessExited(p *Plugin) bool {
	p.mu.Lock()
	c := p.cur
	p.mu.Unlock()
	return c == nil || c.client.Exited()
}

package master

// Ready reports whether the key registry and the request handlers are up;
// until then the broker refuses every client but the master's own, so an
// accepted minion reconnecting during a restart is never mistaken for an
// unknown key and handed pending permissions.
func (d *directory) Ready() bool {
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	return d.m.reg != nil && d.m.api != nil
}

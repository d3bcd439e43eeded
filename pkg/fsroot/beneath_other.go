//go:build !linux

package fsroot

// resolvesBeneath has no kernel help outside Linux: nothing is proven
// here and Join always walks the path by hand.
func resolvesBeneath(root, rel string) bool { return false }

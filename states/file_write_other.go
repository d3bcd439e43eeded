//go:build !linux

package states

// createAnonymous needs O_TMPFILE; elsewhere every new file takes the
// temporary-name path.
func createAnonymous(dir, p string, data []byte, mode uint32, uid, gid int) (handled bool, err error) {
	return false, nil
}

//go:build !linux

package main

import "os"

// isTTY falls back to the file mode where the terminal ioctl differs.
func isTTY(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && f.Name() != os.DevNull
}

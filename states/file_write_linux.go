package states

import (
	"fmt"
	"io/fs"
	"strconv"
	"syscall"
	"unsafe"
)

// Linux flags not in package syscall for every architecture. __O_TMPFILE
// is 0x400000 on every architecture Go supports on Linux; O_TMPFILE
// always carries O_DIRECTORY, whose value varies.
const (
	oTmpfile        = 0x400000 | syscall.O_DIRECTORY
	atFDCWD         = -100
	atSymlinkFollow = 0x400
	atEmptyPath     = 0x1000
)

// createAnonymous writes a file that does not exist yet as an unnamed
// inode in dir (O_TMPFILE) and names it p with linkat once content, owner
// and mode are all in place: readers never see a half-written file, as
// with a temporary name and a rename, but the directory changes once
// instead of three times (create, and a rename that removes one name and
// adds another). handled is false when the kernel or file system cannot
// do this or p appeared meanwhile: nothing was created and the caller
// takes the temporary-name path, which reports or replaces as it always
// did. An error with handled true is a failure to write the content.
func createAnonymous(dir, p string, data []byte, mode uint32, uid, gid int) (handled bool, err error) {
	fd, err := syscall.Open(dir, oTmpfile|syscall.O_WRONLY|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return false, nil
	}
	defer syscall.Close(fd)
	fail := func(op string, e error) (bool, error) {
		return true, fmt.Errorf("write %s: %w", p, &fs.PathError{Op: op, Path: p, Err: e})
	}
	for b := data; len(b) > 0; {
		n, err := syscall.Write(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fail("write", err)
		}
		b = b[n:]
	}
	if uid >= 0 || gid >= 0 {
		if err := syscall.Fchown(fd, uid, gid); err != nil {
			return fail("chown", err)
		}
	}
	if err := syscall.Fchmod(fd, mode); err != nil {
		return fail("chmod", err)
	}
	err = linkat(fd, "", p, atEmptyPath)
	if err == syscall.ENOENT || err == syscall.EPERM {
		// AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc/self/fd does not.
		err = linkat(atFDCWD, "/proc/self/fd/"+strconv.Itoa(fd), p, atSymlinkFollow)
	}
	return err == nil, nil
}

// linkat is linkat(2) with the new name relative to the working
// directory.
func linkat(oldDirFD int, oldPath, newPath string, flags int) error {
	o, err := syscall.BytePtrFromString(oldPath)
	if err != nil {
		return err
	}
	n, err := syscall.BytePtrFromString(newPath)
	if err != nil {
		return err
	}
	newDirFD := atFDCWD
	_, _, errno := syscall.Syscall6(syscall.SYS_LINKAT, uintptr(oldDirFD), uintptr(unsafe.Pointer(o)),
		uintptr(newDirFD), uintptr(unsafe.Pointer(n)), uintptr(flags), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

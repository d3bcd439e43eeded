package fsroot

import (
	"syscall"
	"unsafe"
)

// Constants not in package syscall for every Linux architecture. They
// have these values on every architecture Go supports on Linux (openat2
// arrived after the system call numbers were unified).
const (
	sysOpenat2          = 437
	oPath               = 0x200000
	resolveNoMagiclinks = 0x02
	resolveBeneath      = 0x08
)

// openHow is struct open_how of openat2(2).
type openHow struct {
	flags   uint64
	mode    uint64
	resolve uint64
}

// resolvesBeneath asks the kernel whether rel, resolved from root with
// every symlink followed, names an existing file that stays under root:
// openat2 with RESOLVE_BENEATH walks the whole path in one call where
// checking by hand costs an lstat per component. true is a proof; false
// only means "not proven here" (no openat2, a missing component, an
// absolute symlink, an escape) and the caller then judges by hand, so
// every answer of Join stays the one the slow walk gives.
func resolvesBeneath(root, rel string) bool {
	rootFD, err := syscall.Open(root, oPath|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer syscall.Close(rootFD)
	p, err := syscall.BytePtrFromString(rel)
	if err != nil {
		return false
	}
	how := openHow{flags: oPath | syscall.O_CLOEXEC, resolve: resolveBeneath | resolveNoMagiclinks}
	fd, _, errno := syscall.Syscall6(sysOpenat2, uintptr(rootFD), uintptr(unsafe.Pointer(p)),
		uintptr(unsafe.Pointer(&how)), unsafe.Sizeof(how), 0, 0)
	if errno != 0 {
		return false
	}
	syscall.Close(int(fd))
	return true
}

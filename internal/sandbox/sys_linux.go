package sandbox

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"
)

// The new mount API (Linux 5.2+, mount_setattr 5.12+). The numbers are the
// same on every architecture (they were allocated after the tables were unified).
const (
	sysOpenTree     = 428
	sysMoveMount    = 429
	sysFsopen       = 430
	sysFsconfig     = 431
	sysFsmount      = 432
	sysMountSetattr = 442

	openTreeClone       = 0x1
	atRecursive         = 0x8000
	atEmptyPath         = 0x1000
	moveMountFEmptyPath = 0x4
	fsopenCloexec       = 0x1
	fsconfigSetString   = 1
	fsconfigSetFD       = 5
	fsconfigCmdCreate   = 6
	fsmountCloexec      = 0x1

	mountAttrRdonly = 0x1
	mountAttrNosuid = 0x2
	mountAttrNodev  = 0x4
	mountAttrNoexec = 0x8

	atFDCWD = -0x64    // AT_FDCWD
	oPath   = 0x200000 // O_PATH
)

type mountAttr struct {
	set, clr, propagation, userns uint64
}

func errnoErr(op string, e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return &os.SyscallError{Syscall: op, Err: e}
}

// cloneTree returns a detached, recursive copy of the mount tree at path with
// attrs set on every mount in it (open_tree + mount_setattr).
func cloneTree(path string, attrs uint64) (int, error) {
	p, err := syscall.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	fd, _, e := syscall.Syscall(sysOpenTree, fdcwd(), uintptr(unsafe.Pointer(p)), openTreeClone|syscall.O_CLOEXEC|atRecursive)
	if e != 0 {
		return -1, fmt.Errorf("open_tree %s: %w", path, e)
	}
	attr := mountAttr{set: attrs}
	empty := [1]byte{}
	if _, _, e := syscall.Syscall6(sysMountSetattr, fd, uintptr(unsafe.Pointer(&empty[0])), atEmptyPath|atRecursive,
		uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr), 0); e != 0 {
		syscall.Close(int(fd))
		return -1, fmt.Errorf("mount_setattr %s: %w", path, e)
	}
	return int(fd), nil
}

// attach mounts a detached mount (from cloneTree or fsmount) on target.
func attach(fd int, target string) error {
	t, err := syscall.BytePtrFromString(target)
	if err != nil {
		return err
	}
	empty := [1]byte{}
	if _, _, e := syscall.Syscall6(sysMoveMount, uintptr(fd), uintptr(unsafe.Pointer(&empty[0])), fdcwd(),
		uintptr(unsafe.Pointer(t)), moveMountFEmptyPath, 0); e != 0 {
		return fmt.Errorf("move_mount %s: %w", target, e)
	}
	return nil
}

// procFor returns a detached procfs mount showing the pid namespace nsfd
// refers to (the pidns= option, Linux 6.18+).
func procFor(nsfd int) (int, error) {
	name := [...]byte{'p', 'r', 'o', 'c', 0}
	fs, _, e := syscall.Syscall(sysFsopen, uintptr(unsafe.Pointer(&name[0])), fsopenCloexec, 0)
	if e != 0 {
		return -1, errnoErr("fsopen proc", e)
	}
	defer syscall.Close(int(fs))
	key := [...]byte{'p', 'i', 'd', 'n', 's', 0}
	if _, _, e := syscall.Syscall6(sysFsconfig, fs, fsconfigSetFD, uintptr(unsafe.Pointer(&key[0])), 0, uintptr(nsfd), 0); e != 0 {
		return -1, errnoErr("fsconfig proc pidns", e)
	}
	if _, _, e := syscall.Syscall6(sysFsconfig, fs, fsconfigCmdCreate, 0, 0, 0, 0); e != 0 {
		return -1, errnoErr("fsconfig proc create", e)
	}
	m, _, e := syscall.Syscall(sysFsmount, fs, fsmountCloexec, mountAttrNosuid|mountAttrNodev|mountAttrNoexec)
	if e != 0 {
		return -1, errnoErr("fsmount proc", e)
	}
	return int(m), nil
}

// sysSetns is setns(2)'s number, which the syscall package lacks on amd64.
func sysSetns() (uintptr, bool) {
	switch runtime.GOARCH {
	case "amd64":
		return 308, true
	case "arm64", "riscv64", "loong64":
		return 268, true
	case "ppc64", "ppc64le":
		return 350, true
	case "s390x":
		return 339, true
	}
	return 0, false
}

// setns moves the calling thread into the namespace fd refers to.
func setns(fd, nstype int) error {
	nr, ok := sysSetns()
	if !ok {
		return errnoErr("setns", syscall.ENOSYS)
	}
	if _, _, e := syscall.RawSyscall(nr, uintptr(fd), uintptr(nstype), 0); e != 0 {
		return errnoErr("setns", e)
	}
	return nil
}

// openat opens name relative to the directory dirfd.
func openat(dirfd int, name string, flags int) (int, error) {
	fd, err := syscall.Openat(dirfd, name, flags|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "openat", Path: name, Err: err}
	}
	return fd, nil
}

// nsPath names a namespace file of pid (or "thread-self") under a /proc fd.
func nsPath(pid int, ns string) string {
	if pid == 0 {
		return "thread-self/ns/" + ns
	}
	return strconv.Itoa(pid) + "/ns/" + ns
}

// fdcwd is AT_FDCWD as a syscall argument.
func fdcwd() uintptr {
	fd := atFDCWD
	return uintptr(fd)
}

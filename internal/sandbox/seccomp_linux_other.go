//go:build linux && !amd64

package sandbox

import (
	"errors"
	"runtime"
)

// installSeccomp: the filter (seccomp_linux_amd64.go) is written for x86-64
// system call numbers only.
func installSeccomp(denyClone3 bool) error {
	return errors.New("not implemented for " + runtime.GOARCH)
}

func seccompDescription(bool) string { return "seccomp: on" }

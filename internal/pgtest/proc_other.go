//go:build !unix

package pgtest

import "syscall"

// Only unix test processes run as root and need to switch users.
func credentialAttr(uint32, uint32) *syscall.SysProcAttr { return nil }

func detachAttr() *syscall.SysProcAttr { return nil }

//go:build !unix

package pgtest

import "syscall"

func lockFile(string) (func(), error) { return func() {}, nil }

func detachAttr() *syscall.SysProcAttr { return nil }

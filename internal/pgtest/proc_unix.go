//go:build unix

package pgtest

import "syscall"

// credentialAttr runs a child as uid/gid with no supplementary groups.
func credentialAttr(uid, gid uint32) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
}

// detachAttr puts a child in its own process group, so a Ctrl-C aimed at
// `go test` does not kill it before it has cleaned up.
func detachAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

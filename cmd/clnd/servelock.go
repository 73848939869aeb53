package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockSQLite keeps a second `clnd serve` off the same SQLite file: two
// servers would each run a billing scheduler and a check-in writer on one
// file, and SQLite is the one-process database (operations.md). The lock is
// an flock on <file>.serve.lock, released by the kernel when the process
// ends, however it ends; the file says which process holds it.
func lockSQLite(url string) (release func(), err error) {
	path, ok := strings.CutPrefix(url, "sqlite://")
	if !ok {
		return func() {}, nil
	}
	path, _, _ = strings.Cut(path, "?")
	lockPath := filepath.Clean(path) + ".serve.lock"
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(lockPath)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := strings.TrimSpace(string(holder))
			if who == "" {
				who = "another process"
			} else {
				who = "process " + who
			}
			return nil, fmt.Errorf("another clnd serve (%s) is already using %s; SQLite serves one process: stop it, or use PostgreSQL for several instances", who, path)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { _ = f.Close() }, nil
}

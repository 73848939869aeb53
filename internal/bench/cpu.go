package bench

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// cpuMeter reads the processor time used so far by this process and by the
// PostgreSQL server's processes (its postmaster and every process it
// started, the backends serving both sides included). On a machine shared
// with other work, requests per second measure the share of the processors
// each side got as much as its cost; processor time per operation does not.
// Linux only; the database must run on this machine.
type cpuMeter struct {
	postmaster int
}

// clockTick is Linux's USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every architecture Go supports there.
const clockTick = 10 * time.Millisecond

func newCPUMeter(ctx context.Context, db *sql.DB) (*cpuMeter, error) {
	var backend int
	if err := db.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		return nil, err
	}
	fields, err := procStat(backend)
	if err != nil {
		return nil, fmt.Errorf("the database's processes cannot be read here (%w)", err)
	}
	parent, err := strconv.Atoi(string(fields[1]))
	if err != nil {
		return nil, err
	}
	return &cpuMeter{postmaster: parent}, nil
}

// read returns this process's time plus the database's, and the database's:
// the postmaster's, its living children's and its exited children's. A nil
// meter reads zero.
func (m *cpuMeter) read() (total, db time.Duration) {
	if m == nil {
		return 0, 0
	}
	var self syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		fields, err := procStat(pid)
		if err != nil {
			continue
		}
		ppid, _ := strconv.Atoi(string(fields[1]))
		switch {
		case pid == m.postmaster:
			db += ticks(fields, 11, 12, 13, 14) // its own and its exited children's
		case ppid == m.postmaster:
			db += ticks(fields, 11, 12)
		}
	}
	return time.Duration(self.Utime.Nano()+self.Stime.Nano()) + db, db
}

// procStat returns /proc/<pid>/stat's fields after the command name: [0] is
// the state, [1] the parent, [11] utime, [12] stime, [13] cutime, [14] cstime.
func procStat(pid int) ([][]byte, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	end := bytes.LastIndexByte(raw, ')')
	if end < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := bytes.Fields(raw[end+1:])
	if len(fields) < 15 {
		return nil, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	return fields, nil
}

func ticks(fields [][]byte, at ...int) time.Duration {
	var n int64
	for _, i := range at {
		v, _ := strconv.ParseInt(string(fields[i]), 10, 64)
		n += v
	}
	return time.Duration(n) * clockTick
}

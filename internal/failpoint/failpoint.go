// Package failpoint lets crash tests stop clnd at one named moment, so that
// a test can kill -9 the process exactly there: with CLND_FAILPOINT=<name>
// (or <name>:<detail>, e.g. after-gateway:TOP_UP), reaching Hit(<name>,
// <detail>) prints "failpoint <name> reached" to stderr and blocks the
// goroutine forever. Without the variable Hit costs one comparison.
package failpoint

import (
	"fmt"
	"os"
)

// The moments tests stop at.
const (
	// AfterGateway: the provider answered (money moved), nothing recorded yet.
	AfterGateway = "after-gateway"
	// AfterDebit: a debit that made an autopayment due has committed, the
	// autopayment has not been charged.
	AfterDebit = "after-debit"
)

var armed = os.Getenv("CLND_FAILPOINT")

// Hit stops here if the failpoint name (or name:detail) is armed.
func Hit(name, detail string) {
	if armed == "" || (armed != name && armed != name+":"+detail) {
		return
	}
	fmt.Fprintf(os.Stderr, "failpoint %s reached\n", name)
	select {}
}

package clnimport

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"clnd/ent"
	"clnd/ent/datacenter"
	"clnd/ent/iplicense"
	"clnd/internal/apperr"
	"clnd/internal/catalog"
	"clnd/internal/clock"
	"clnd/internal/licensing"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

// Action is what an import does with one license or backup.
type Action string

const (
	Add       Action = "add"       // not here yet: imported
	Unchanged Action = "unchanged" // here already, as the source has it (a rerun)
	Skip      Action = "skip"      // cannot be imported; Reason says why
)

// LicenseStep is one source license and what happens to it.
type LicenseStep struct {
	License
	Type   catalog.LicenseType
	Action Action
	Reason string
	// Late is a step that Apply had to skip though Build planned to add it
	// (a rule Build did not foresee); PrintLate shows it.
	Late bool
	// target is the license here: the existing one (Unchanged) or, after
	// Apply, the imported one.
	target *ent.IPLicense
}

// BackupStep is one source backup and what happens to it.
type BackupStep struct {
	Backup
	Action  Action
	Reason  string
	Late    bool // as LicenseStep.Late
	license *LicenseStep
}

// Plan is what an import of one reseller's licenses would change.
type Plan struct {
	ResellerID string
	Licenses   []*LicenseStep
	Backups    []*BackupStep
}

// earliest is the first added date an import accepts: a source's date
// before it is a placeholder (CLN writes none so old), not a date to bill
// from.
var earliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Build compares the source's licenses and backups with the reseller's here
// and decides each one's step, changing nothing. A license is here already
// when the reseller holds the same type at the same address; an address
// whose product family is held otherwise (another reseller, another type)
// is skipped, as addIPLicense would refuse it with CONFLICT; so is a
// license the import's rules refuse (a host name CreateIPLicense refuses,
// a date in the future or before 2000), and a second backup the source
// lists for one license. What Build skips, Apply never tries, so a dry run
// says what the import will do and one bad row costs only itself.
func Build(ctx context.Context, client *ent.Client, resellerID string, lics []License, bks []Backup, sandbox bool) (*Plan, error) {
	sys := viewer.SystemContext(ctx)
	now := clock.Now(ctx)
	p := &Plan{ResellerID: resellerID}
	type slot struct {
		ip     string
		family catalog.Family
	}
	claimed := map[slot]*LicenseStep{}
	bySourceID := map[string]*LicenseStep{}
	byIPType := map[string]*LicenseStep{}
	for _, l := range lics {
		step := &LicenseStep{License: l}
		p.Licenses = append(p.Licenses, step)
		entry, ok := catalog.ByCLNCode(l.TypeCode)
		if !ok {
			step.Action, step.Reason = Skip, fmt.Sprintf("unknown license type code %d", l.TypeCode)
			continue
		}
		step.Type = entry.Type
		ip, err := licensing.ParsePublicIP("ip", l.IP, sandbox)
		if err != nil {
			step.Action, step.Reason = Skip, err.Error()
			continue
		}
		step.IP = ip
		if l.SourceID != "" {
			bySourceID[l.SourceID] = step
		}
		byIPType[fmt.Sprintf("%s/%d", ip, l.TypeCode)] = step
		if l.Created.After(now) {
			step.Action, step.Reason = Skip, fmt.Sprintf("added %s, after this clnd's now (%s)", l.Created.Format(time.RFC3339), now.Format(time.RFC3339))
			continue
		}
		if l.Created.Before(earliest) {
			step.Action, step.Reason = Skip, fmt.Sprintf("added %s, before 2000: not a date to import", l.Created.Format(time.RFC3339))
			continue
		}
		host, err := licensing.CleanHostname("hostname", l.Hostname)
		if err != nil {
			step.Action, step.Reason = Skip, "host name "+quoteShort(l.Hostname)+": "+reason(err)
			continue
		}
		step.Hostname = host
		key := slot{ip, entry.Family}
		if other := claimed[key]; other != nil {
			step.Action, step.Reason = Skip, fmt.Sprintf("the source lists a second %s license for %s", entry.Family, ip)
			continue
		}
		claimed[key] = step
		held, err := client.IPLicense.Query().Where(iplicense.IP(ip), iplicense.FamilyEQ(entry.Family)).WithBackup().Only(sys)
		switch {
		case ent.IsNotFound(err):
			step.Action = Add
		case err != nil:
			return nil, err
		case held.ResellerID == resellerID && held.Type == entry.Type:
			step.Action, step.target = Unchanged, held
		case held.ResellerID == resellerID:
			step.Action, step.Reason = Skip, fmt.Sprintf("the reseller holds %s at %s here", held.Type, ip)
		default:
			step.Action, step.Reason = Skip, fmt.Sprintf("another reseller holds a %s license at %s here", entry.Family, ip)
		}
	}
	backedUp := map[*LicenseStep]bool{}
	for _, b := range bks {
		step := &BackupStep{Backup: b}
		p.Backups = append(p.Backups, step)
		lic := bySourceID[b.ServerID]
		if lic == nil && b.TypeCode != 0 {
			lic = byIPType[fmt.Sprintf("%s/%d", b.IP, b.TypeCode)]
		}
		step.license = lic
		switch {
		case lic == nil:
			step.Action, step.Reason = Skip, "its license is not in the source's license list"
		case lic.Action == Skip:
			step.Action, step.Reason = Skip, "its license is skipped"
		case backedUp[lic]:
			step.Action, step.Reason = Skip, fmt.Sprintf("the source lists a second backup for %s (a license has one)", lic.IP)
		case lic.target != nil && lic.target.Edges.Backup != nil:
			backedUp[lic] = true
			step.Action = Unchanged
			if have := lic.target.Edges.Backup.SizeGB; have != b.SizeGB {
				step.Reason = fmt.Sprintf("left at %d GB here (the source has %d GB)", have, b.SizeGB)
			}
		default:
			n, err := client.Datacenter.Query().Where(datacenter.Code(b.Datacenter)).Count(sys)
			if err != nil {
				return nil, err
			}
			if n == 0 {
				step.Action, step.Reason = Skip, fmt.Sprintf("no datacenter %q here", b.Datacenter)
				continue
			}
			if b.SizeGB < licensing.DefaultBackupSizes.MinGB || b.SizeGB > licensing.DefaultBackupSizes.MaxGB {
				step.Action, step.Reason = Skip, fmt.Sprintf("%d GB is not a backup size here", b.SizeGB)
				continue
			}
			backedUp[lic] = true
			step.Action = Add
		}
	}
	return p, nil
}

// refused is an error of a rule (bad input, a conflict, ...), which skips
// the one item; anything else (the database) stops the import.
func refused(err error) bool {
	e, ok := apperr.As(err)
	return ok && e.Code != apperr.Internal && e.Code != apperr.Unavailable
}

// reason is an error's message as a skip's reason.
func reason(err error) string {
	if e, ok := apperr.As(err); ok {
		return e.Message
	}
	return err.Error()
}

// quoteShort quotes a source's value for a skip line, cut to 40 bytes.
func quoteShort(s string) string {
	if len(s) > 40 {
		return strconv.Quote(strings.ToValidUTF8(s[:40], "")) + "…"
	}
	return strconv.Quote(s)
}

// Counts tallies a plan's steps.
type Counts struct {
	LicensesAdded, LicensesUnchanged, LicensesSkipped int
	BackupsAdded, BackupsUnchanged, BackupsSkipped    int
}

// Counts tallies the plan.
func (p *Plan) Counts() Counts {
	var c Counts
	for _, l := range p.Licenses {
		switch l.Action {
		case Add:
			c.LicensesAdded++
		case Unchanged:
			c.LicensesUnchanged++
		default:
			c.LicensesSkipped++
		}
	}
	for _, b := range p.Backups {
		switch b.Action {
		case Add:
			c.BackupsAdded++
		case Unchanged:
			c.BackupsUnchanged++
		default:
			c.BackupsSkipped++
		}
	}
	return c
}

// Print writes one line per license and backup that is added or skipped
// (unchanged ones are only counted): "+" added, "!" skipped.
func (p *Plan) Print(w io.Writer) {
	for _, l := range p.Licenses {
		switch l.Action {
		case Add:
			fmt.Fprintf(w, "+ license %s %s (type %d), added %s\n", l.IP, l.Type, l.TypeCode, l.Created.Format(time.RFC3339))
		case Skip:
			fmt.Fprintf(w, "! license %s type %d: %s\n", l.IP, l.TypeCode, l.Reason)
		}
	}
	for _, b := range p.Backups {
		switch {
		case b.Action == Add:
			fmt.Fprintf(w, "+ backup of %s: %d GB in %s, added %s\n", b.license.IP, b.SizeGB, b.Datacenter, b.Created.Format(time.RFC3339))
		case b.Action == Skip:
			fmt.Fprintf(w, "! backup of %s (%s): %s\n", b.IP, b.ServerID, b.Reason)
		case b.Reason != "":
			fmt.Fprintf(w, "= backup of %s: %s\n", b.license.IP, b.Reason)
		}
	}
}

// PrintLate writes a "!" line for each addition Apply had to skip.
func (p *Plan) PrintLate(w io.Writer) {
	for _, l := range p.Licenses {
		if l.Late {
			fmt.Fprintf(w, "! license %s type %d: %s\n", l.IP, l.TypeCode, l.Reason)
		}
	}
	for _, b := range p.Backups {
		if b.Late {
			fmt.Fprintf(w, "! backup of %s (%s): %s\n", b.IP, b.ServerID, b.Reason)
		}
	}
}

// chunk is how many licenses one transaction imports.
const chunk = 200

// Apply imports the plan's additions: licenses through the operator's
// importIPLicenses rule (licensing.ImportIPLicenses: original added dates,
// billed from then at the prices in effect since), a chunk per
// transaction, then backups (licensing.CreateBackup, from their original
// date). A chunk that a rule refuses (an error clnd would show a client,
// which Build did not foresee) is imported again one item per transaction:
// the refused items are skipped (Late, with the reason), their backups
// too, and the rest imported. progress is told how many of the additions
// are done.
func (p *Plan) Apply(ctx context.Context, client *ent.Client, sandbox bool, progress func(done, total int)) error {
	sys := viewer.SystemContext(ctx)
	var adds []*LicenseStep
	for _, l := range p.Licenses {
		if l.Action == Add {
			adds = append(adds, l)
		}
	}
	var backups []*BackupStep
	for _, b := range p.Backups {
		if b.Action == Add {
			backups = append(backups, b)
		}
	}
	total := len(adds) + len(backups)
	done := 0
	importLicenses := func(part []*LicenseStep) error {
		return store.InTx(sys, client, func(tx *ent.Tx) error {
			in := make([]licensing.NewIPLicense, len(part))
			for i, l := range part {
				in[i] = licensing.NewIPLicense{IP: l.IP, Type: l.Type, Hostname: l.Hostname, AddedAt: l.Created, Sandbox: sandbox}
			}
			out, err := licensing.ImportIPLicenses(sys, tx, p.ResellerID, in)
			if err != nil {
				return err
			}
			for i, lic := range out {
				part[i].target = lic
			}
			return nil
		})
	}
	for start := 0; start < len(adds); start += chunk {
		part := adds[start:min(start+chunk, len(adds))]
		err := importLicenses(part)
		if refused(err) {
			err = nil
			for _, l := range part {
				if e := importLicenses([]*LicenseStep{l}); e != nil {
					if !refused(e) {
						err = e
						break
					}
					l.Action, l.Reason, l.Late = Skip, strings.TrimPrefix(reason(e), "license 1: "), true
				}
			}
		}
		if err != nil {
			return fmt.Errorf("importing licenses %d to %d: %w", start+1, start+len(part), err)
		}
		done += len(part)
		progress(done, total)
	}
	createBackups := func(part []*BackupStep) error {
		return store.InTx(sys, client, func(tx *ent.Tx) error {
			for _, b := range part {
				lic := b.license.target
				at := b.Created
				if at.Before(lic.CreatedAt) {
					at = lic.CreatedAt
				}
				if _, err := licensing.CreateBackup(sys, tx, lic, b.SizeGB, b.Datacenter, at); err != nil {
					return fmt.Errorf("the backup of %s: %w", lic.IP, err)
				}
			}
			return nil
		})
	}
	var ready []*BackupStep
	for _, b := range backups {
		if b.license.Action == Skip {
			b.Action, b.Reason, b.Late = Skip, "its license is skipped", true
			done++
			continue
		}
		ready = append(ready, b)
	}
	for start := 0; start < len(ready); start += chunk {
		part := ready[start:min(start+chunk, len(ready))]
		err := createBackups(part)
		if refused(err) {
			err = nil
			for _, b := range part {
				if e := createBackups([]*BackupStep{b}); e != nil {
					if !refused(e) {
						err = e
						break
					}
					b.Action, b.Reason, b.Late = Skip, reason(e), true
				}
			}
		}
		if err != nil {
			return err
		}
		done += len(part)
		progress(done, total)
	}
	return nil
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"clnd/ent"
	"clnd/ent/reseller"
	"clnd/internal/clnimport"
	"clnd/internal/clock"
	"clnd/internal/progress"
	"clnd/internal/viewer"
)

// importCmd runs `clnd import cln`: a reseller's licenses and backups from
// a CLN-compatible API into this database, with their original dates.
func importCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "cln" {
		return errors.New("unknown import; want 'clnd import cln' (clnd import cln -h for its flags)")
	}
	fs := flag.NewFlagSet("import cln", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbURL := databaseFlag(fs)
	source := fs.String("url", env("CLND_IMPORT_CLN_URL", ""), "the CLN-compatible API's base URL, before /api/ (CLND_IMPORT_CLN_URL), e.g. https://cln.cloudlinux.com or another clnd")
	login := fs.String("login", env("CLND_IMPORT_CLN_LOGIN", ""), "the login at the source (CLND_IMPORT_CLN_LOGIN)")
	secret := fs.String("secret", "", "the source's API secret; prefer CLND_IMPORT_CLN_SECRET, which process lists do not show")
	into := fs.String("reseller", "", "the login of the reseller here that gets the licenses (required)")
	dryRun := fs.Bool("dry-run", false, "print what would change and change nothing")
	envErrors = nil
	sandbox := fs.Bool("sandbox", envBool("CLND_SANDBOX"), "date by the sandbox test clock and accept documentation addresses, as a sandbox serve does (CLND_SANDBOX)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if err := errors.Join(envErrors...); err != nil {
		return err
	}
	if *secret == "" {
		*secret = os.Getenv("CLND_IMPORT_CLN_SECRET")
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"--url", *source}, {"--login", *login}, {"--secret (or CLND_IMPORT_CLN_SECRET)", *secret}, {"--reseller", *into}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("clnd import cln needs %s", strings.Join(missing, ", "))
	}
	if u, err := url.Parse(*source); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("--url %q: want an http(s) base URL like https://cln.example", *source)
	}
	db, err := openReady(ctx, *dbURL, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := businessClock(ctx, db, *sandbox)
	if err != nil {
		return err
	}
	ctx = clock.NewContext(ctx, c)
	target, err := db.Client.Reseller.Query().Where(reseller.Login(strings.ToLower(*into))).Only(viewer.SystemContext(ctx))
	if ent.IsNotFound(err) {
		return fmt.Errorf("--reseller %q: no reseller with that login here", *into)
	}
	if err != nil {
		return err
	}

	src := &clnimport.Source{URL: *source, Login: *login, Secret: *secret}
	fmt.Fprintf(stderr, "reading %s as %s\n", *source, *login)
	lics, err := src.Licenses(ctx)
	if err != nil {
		return fmt.Errorf("reading the source's licenses: %w", err)
	}
	bks, err := src.Backups(ctx)
	if err != nil {
		return fmt.Errorf("reading the source's backups: %w", err)
	}
	plan, err := clnimport.Build(ctx, db.Client, target.ID, lics, bks, *sandbox)
	if err != nil {
		return err
	}
	plan.Print(stdout)
	n := plan.Counts()
	summarize := func(n clnimport.Counts) string {
		return fmt.Sprintf("licenses: %d new, %d here already, %d skipped; backups: %d new, %d here already, %d skipped",
			n.LicensesAdded, n.LicensesUnchanged, n.LicensesSkipped, n.BackupsAdded, n.BackupsUnchanged, n.BackupsSkipped)
	}
	summary := summarize(n)
	if *dryRun {
		fmt.Fprintf(stdout, "dry run, nothing changed: would import into %s: %s\n", target.Login, summary)
		return nil
	}
	began := clock.Wall()
	meter := progress.New(stderr, "importing into "+target.Login, "items", 0)
	err = plan.Apply(ctx, db.Client, *sandbox, func(done, total int) {
		meter.Total = total
		meter.Update(done)
	})
	// What Apply had to skip though Build did not foresee it, then the
	// counts of what was done.
	plan.PrintLate(stdout)
	n = plan.Counts()
	summary = summarize(n)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported into %s in %s: %s\n", target.Login, clock.Wall().Sub(began).Round(time.Millisecond), summary)
	if skipped := n.LicensesSkipped + n.BackupsSkipped; skipped > 0 {
		return fmt.Errorf("%d licenses or backups could not be imported (the lines marked ! above); the rest were", skipped)
	}
	return nil
}

package main

import (
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"clnd/internal/apitest"
)

// The clnd → clnd round trip: one clnd (the source) answers the CLN API,
// `clnd import cln` reads it into a reseller of a second database, with
// the licenses' original dates to the second and their backups. A dry run
// changes nothing, a rerun changes nothing, and an address held by another
// reseller here is skipped, said, and fails the command. On SQLite the
// import is a real clnd process.
func TestImportCLNRoundTrip(t *testing.T) {
	var bin string
	if !testing.Short() {
		bin = buildClnd(t)
	}
	for _, backend := range apitest.Backends {
		t.Run(backend, func(t *testing.T) {
			// The source: alice's licenses added at times with seconds, one
			// with a backup.
			src := apitest.New(t, "sqlite")
			alice := src.Register("alice")
			var secret struct{ CreateCLNSecret struct{ Secret string } }
			src.Query(alice.Token, `mutation { createCLNSecret { secret } }`, nil, &secret)
			first := src.AddLicense(alice.Token, "203.0.113.1", "CLOUDLINUX_OS", "web1.example.com")
			src.Clock.Set(apitest.Start.Add(time.Hour + 7*time.Second))
			src.AddLicense(alice.Token, "203.0.113.2", "KERNELCARE", "")
			src.Clock.Set(apitest.Start.Add(26*time.Hour + 59*time.Second))
			src.AddLicense(alice.Token, "2001:db8::1", "IMUNIFY360_SINGLE_USER", "")
			src.AddLicense(alice.Token, "203.0.113.9", "CLOUDLINUX_OS", "")
			src.Query(alice.Token, `mutation($id: ID!) { activateBackup(input: {licenseID: $id, sizeGB: 20, datacenter: "us-east"}) { backup { id } } }`,
				map[string]any{"id": first}, nil)
			want := licensesOf(t, src, alice.Token)

			// The target: bob gets them; carol holds one of the addresses.
			url := apitest.URL(t, backend)
			dst := apitest.New(t, backend, apitest.WithDatabaseURL(url))
			bob := dst.Register("bob")
			carol := dst.Register("carol")
			dst.AddLicense(carol.Token, "203.0.113.9", "CLOUDLINUX_SOLO", "")
			bobReads := dst.APIToken(bob.Token, "READ") // sessions end; the clock moves 9 days
			dst.Query(dst.OperatorToken, `mutation { advanceClock(to: "2026-10-10T00:00:00Z") { now } }`, nil, nil)

			args := []string{"import", "cln", "--url", src.Server.URL, "--login", "alice", "--secret", secret.CreateCLNSecret.Secret,
				"--database-url", url, "--reseller", "bob", "--sandbox"}
			out, _, err := runCLI(t, append(args, "--dry-run")...)
			if err != nil || !strings.Contains(out, "+ license 203.0.113.1 CLOUDLINUX_OS (type 1), added 2026-10-01T00:00:00Z") ||
				!strings.Contains(out, "+ backup of 203.0.113.1: 20 GB in us-east") ||
				!strings.Contains(out, "! license 203.0.113.9 type 1: another reseller holds") ||
				!strings.Contains(out, "dry run, nothing changed: would import into bob: licenses: 3 new, 0 here already, 1 skipped; backups: 1 new") {
				t.Fatalf("dry run: %v\n%s", err, out)
			}
			if got := licensesOf(t, dst, bobReads); len(got) != 0 {
				t.Fatalf("the dry run imported %v", got)
			}

			var stderr string
			if backend == "sqlite" && bin != "" {
				// A real process, the secret from the environment.
				real := append([]string{}, args...)
				for i := range real {
					if real[i] == "--secret" {
						real = append(real[:i], real[i+2:]...)
						break
					}
				}
				cmd := exec.Command(bin, real...)
				cmd.Env = append(os.Environ(), "CLND_IMPORT_CLN_SECRET="+secret.CreateCLNSecret.Secret)
				var o, e strings.Builder
				cmd.Stdout, cmd.Stderr = &o, &e
				err = cmd.Run()
				out, stderr = o.String(), e.String()
			} else {
				out, _, err = runCLI(t, args...)
				if err != nil {
					stderr = err.Error()
				}
			}
			if err == nil || !strings.Contains(out, "imported into bob") || !strings.Contains(out, "licenses: 3 new, 0 here already, 1 skipped") ||
				!strings.Contains(stderr, "1 licenses or backups could not be imported") {
				t.Fatalf("import: %v\nstdout: %s\nstderr: %s", err, out, stderr)
			}
			got := licensesOf(t, dst, bobReads)
			delete(want, "203.0.113.9")
			if !equal(got, want) {
				t.Fatalf("imported\n%v\nwant\n%v", got, want)
			}

			// A rerun finds everything here already.
			out, _, err = runCLI(t, args...)
			if !strings.Contains(out, "licenses: 0 new, 3 here already, 1 skipped; backups: 0 new, 1 here already") {
				t.Fatalf("rerun: %v\n%s", err, out)
			}
			if again := licensesOf(t, dst, bobReads); !equal(again, got) {
				t.Fatalf("the rerun changed %v into %v", got, again)
			}
		})
	}
}

// licensesOf is each license by IP: type, createdAt to the nanosecond and
// backup, as GraphQL shows them.
func licensesOf(t *testing.T, e *apitest.Env, token string) map[string]string {
	t.Helper()
	var out struct {
		IPLicenses struct {
			Edges []struct {
				Node struct {
					IP, Type, Hostname string
					CreatedAt          time.Time
					Backup             *struct {
						SizeGB     int
						CreatedAt  time.Time
						Datacenter struct{ Code string }
					}
				}
			}
		}
	}
	e.Query(token, `{ ipLicenses(first: 100) { edges { node { ip type hostname createdAt backup { sizeGB createdAt datacenter { code } } } } } }`, nil, &out)
	m := map[string]string{}
	for _, edge := range out.IPLicenses.Edges {
		n := edge.Node
		s := n.Type + " " + n.Hostname + " " + n.CreatedAt.UTC().Format(time.RFC3339Nano)
		if n.Backup != nil {
			s += " backup " + n.Backup.Datacenter.Code + " " + n.Backup.CreatedAt.UTC().Format(time.RFC3339Nano) + " " + strings.Repeat("#", n.Backup.SizeGB/10)
		}
		m[n.IP] = s
	}
	return m
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

package clnimport_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/clnimport"
	"clnd/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// What changes between the plan and its import (another reseller takes an
// address meanwhile) costs only that license and its backup: Apply imports
// its chunk again one license at a time, skips the refused one with the
// reason (PrintLate), and imports the rest.
func TestApplySkipsWhatARuleRefusesLate(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		bob := e.Register("bob")
		carol := e.Register("carol")
		at := apitest.Start.Add(-24 * time.Hour)
		lics := []clnimport.License{
			{IP: "203.0.113.1", TypeCode: 1, Created: at, SourceID: "L1"},
			{IP: "203.0.113.2", TypeCode: 1, Created: at, SourceID: "L2"},
			{IP: "203.0.113.3", TypeCode: 16, Created: at, SourceID: "L3"},
		}
		bks := []clnimport.Backup{
			{ServerID: "L2", IP: "203.0.113.2", SizeGB: 10, Datacenter: "us-east", Created: at},
			{ServerID: "L3", IP: "203.0.113.3", SizeGB: 10, Datacenter: "us-east", Created: at},
		}
		plan, err := clnimport.Build(e.Ctx(), e.DB.Client, bob.ID, lics, bks, true)
		if err != nil {
			t.Fatal(err)
		}
		if n := plan.Counts(); n.LicensesAdded != 3 || n.BackupsAdded != 2 {
			t.Fatalf("plan %+v", n)
		}
		e.AddLicense(carol.Token, "203.0.113.2", "CLOUDLINUX_OS", "")
		if err := plan.Apply(e.Ctx(), e.DB.Client, true, func(int, int) {}); err != nil {
			t.Fatalf("apply: %v", err)
		}
		var late bytes.Buffer
		plan.PrintLate(&late)
		if !strings.Contains(late.String(), "! license 203.0.113.2 type 1: 203.0.113.2 already holds a cloudlinux license") ||
			!strings.Contains(late.String(), "! backup of 203.0.113.2 (L2): its license is skipped") {
			t.Fatalf("late skips:\n%s", late.String())
		}
		if n := plan.Counts(); n.LicensesAdded != 2 || n.LicensesSkipped != 1 || n.BackupsAdded != 1 || n.BackupsSkipped != 1 {
			t.Fatalf("counts after apply %+v", n)
		}
		var out struct {
			IPLicenses struct {
				Edges []struct {
					Node struct {
						IP     string
						Backup *struct{ SizeGB int }
					}
				}
			}
		}
		e.Query(bob.Token, `{ ipLicenses(first: 10) { edges { node { ip backup { sizeGB } } } } }`, nil, &out)
		got := map[string]bool{}
		for _, l := range out.IPLicenses.Edges {
			got[l.Node.IP] = l.Node.Backup != nil
		}
		if len(got) != 2 || got["203.0.113.1"] || !got["203.0.113.3"] {
			t.Fatalf("bob holds %v (address: has a backup), want 203.0.113.1 and 203.0.113.3 with its backup", got)
		}
	})
}

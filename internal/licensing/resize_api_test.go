package licensing_test

import (
	"testing"
	"time"

	"clnd/ent/billablerun"
	"clnd/ent/reseller"
	"clnd/internal/apitest"
	"clnd/internal/viewer"
)

// Resizing a backup closes its billable run and opens the next at the new
// size; growing it is refused while past due, shrinking is not; another
// reseller's backup is not found.
func TestResizeBackup(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		bob := e.Register("bob")
		lic := e.AddLicense(r.Token, "203.0.113.91", "CLOUDLINUX_OS", "")
		const resize = `mutation($id: ID!, $gb: Int!) { resizeBackup(input: {licenseID: $id, sizeGB: $gb}) { backup { id sizeGB monthlyPrice } } }`
		e.Expect("NOT_FOUND", "", r.Token, resize, map[string]any{"id": lic, "gb": 20}) // no backup yet
		var bk struct {
			ActivateBackup struct{ Backup struct{ ID string } }
		}
		e.Query(r.Token, `mutation($id: ID!) { activateBackup(input: {licenseID: $id, sizeGB: 10, datacenter: "us-east"}) { backup { id } } }`,
			map[string]any{"id": lic}, &bk)
		e.Expect("BAD_USER_INPUT", "sizeGB", r.Token, resize, map[string]any{"id": lic, "gb": 0})
		e.Expect("NOT_FOUND", "", bob.Token, resize, map[string]any{"id": lic, "gb": 20})

		at := apitest.Start.Add(3 * 24 * time.Hour)
		e.Query(e.OperatorToken, `mutation($to: Time!) { advanceClock(to: $to) { now } }`, map[string]any{"to": at}, nil)
		var out struct {
			ResizeBackup struct {
				Backup struct {
					ID           string
					SizeGB       int
					MonthlyPrice string
				}
			}
		}
		e.Query(r.Token, resize, map[string]any{"id": lic, "gb": 30}, &out)
		if b := out.ResizeBackup.Backup; b.ID != bk.ActivateBackup.Backup.ID || b.SizeGB != 30 || b.MonthlyPrice != "3.00" {
			t.Fatalf("resized %+v", b)
		}
		ctx := viewer.SystemContext(e.Ctx())
		runs, err := e.DB.Client.BillableRun.Query().Where(billablerun.SubjectID(bk.ActivateBackup.Backup.ID)).
			Order(billablerun.ByStartedAt()).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 2 || runs[0].Quantity != 10 || runs[0].EndedAt == nil || !runs[0].EndedAt.Equal(at) ||
			runs[1].Quantity != 30 || !runs[1].StartedAt.Equal(at) || runs[1].EndedAt != nil {
			t.Fatalf("runs %+v", runs)
		}

		if err := e.DB.Client.Reseller.UpdateOneID(r.ID).SetStatus(reseller.StatusPAST_DUE).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		e.Expect("PAYMENT_REQUIRED", "", r.Token, resize, map[string]any{"id": lic, "gb": 40})
		e.Query(r.Token, resize, map[string]any{"id": lic, "gb": 5}, &out)
		if out.ResizeBackup.Backup.SizeGB != 5 {
			t.Fatalf("shrunk to %d", out.ResizeBackup.Backup.SizeGB)
		}
	})
}

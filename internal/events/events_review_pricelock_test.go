package events_test

import (
	"testing"
	"time"

	"clnd/ent/billablerun"
	"clnd/internal/apitest"
	"clnd/internal/billing"
	"clnd/internal/clock"
	"clnd/internal/licensing"
	"clnd/internal/pricelist"
	"clnd/internal/viewer"
)

// Review finding: emitBackupsRemoved (licensing/events.go:55) takes the backup
// price row FOR SHARE *after* the removal closed the backup's billable run;
// setBackupPricePerGB updates the price row, then locks the open backup runs
// (billing.Reprice). Opposite orders → deadlock on PostgreSQL.
// T2 here is SetBackupPricePerGB's two statements, split where it naturally
// pauses; T1 is licensing.DeactivateBackup as the resolver calls it.
func TestReviewBackupRemovalVersusRepriceDeadlock(t *testing.T) {
	e := apitest.New(t, "postgres")
	r := e.Register("pricer")
	lic := e.AddLicense(r.Token, "203.0.113.30", "CLOUDLINUX_OS", "a")
	e.Query(r.Token, `mutation($id: ID!) { activateBackup(input: {licenseID: $id, sizeGB: 10, datacenter: "us-east"}) { backup { id } } }`,
		map[string]any{"id": lic}, nil)

	sys := viewer.SystemContext(e.Ctx())
	t2, err := e.DB.Client.Tx(sys)
	if err != nil {
		t.Fatal(err)
	}
	defer t2.Rollback()
	// SetBackupPricePerGB, first statement: the price row.
	if err := t2.Setting.UpdateOneID(pricelist.BackupPriceKey).SetValue("7").Exec(sys); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		ctx := viewer.NewContext(e.Ctx(), viewer.Viewer{Role: viewer.Reseller, ResellerID: r.ID, Scope: viewer.ScopeReadWrite})
		t1, err := e.DB.Client.Tx(ctx)
		if err != nil {
			done <- err
			return
		}
		if _, err := licensing.DeactivateBackup(ctx, t1, lic); err != nil {
			t1.Rollback()
			done <- err
			return
		}
		done <- t1.Commit()
	}()
	time.Sleep(300 * time.Millisecond)
	// SetBackupPricePerGB, second statement: reprice the open backup runs.
	err2 := billing.Reprice(sys, t2, billablerun.KindEQ(billablerun.KindBACKUP), 7, clock.Now(e.Ctx()))
	if err2 == nil {
		err2 = t2.Commit()
	}
	err1 := <-done
	if err1 != nil || err2 != nil {
		t.Fatalf("deactivateBackup: %v; setBackupPricePerGB: %v", err1, err2)
	}
}

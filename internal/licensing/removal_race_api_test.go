package licensing_test

import (
	"fmt"
	"testing"

	"clnd/ent/backup"
	"clnd/ent/iplicense"
	"clnd/internal/apitest"
	"clnd/internal/removal"
	"clnd/internal/viewer"
)

// A license removed while a backup is being activated on it never keeps a
// live (and billed) backup: whichever comes second sees the first's work.
func TestRemovalRacingBackupActivationLeavesNoLiveBackup(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		for round := 0; round < 8; round++ {
			lic := e.AddLicense(r.Token, fmt.Sprintf("203.0.113.%d", 10+round), "KERNELCARE", "")
			e.Race(2, func(i int) apitest.Request {
				if i == 0 {
					return apitest.Request{Token: r.Token, Query: `mutation($id: ID!) { removeIPLicenses(ids: [$id]) { removedIDs } }`,
						Variables: map[string]any{"id": lic}}
				}
				return apitest.Request{Token: r.Token, Query: `mutation($id: ID!) { activateBackup(input: {licenseID: $id, sizeGB: 5, datacenter: "us-east"}) { backup { id } } }`,
					Variables: map[string]any{"id": lic}}
			})
		}
		ctx := removal.Include(viewer.SystemContext(e.Ctx()))
		stray, err := e.DB.Client.Backup.Query().
			Where(backup.RemovedAtIsNil(), backup.HasLicenseWith(iplicense.RemovedAtNotNil())).
			IDs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(stray) > 0 {
			t.Fatalf("live backups on removed licenses: %v", stray)
		}
	})
}

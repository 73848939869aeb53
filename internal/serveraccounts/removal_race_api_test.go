package serveraccounts_test

import (
	"fmt"
	"testing"

	"clnd/ent/activationkey"
	"clnd/ent/billablerun"
	"clnd/ent/serveraccount"
	"clnd/internal/apitest"
	"clnd/internal/removal"
	"clnd/internal/viewer"
)

// An account removed while it gets a key, a higher limit or a server keeps
// none of them: no key of a removed account, no server on it, no open
// billable run.
func TestRemovalRacingAccountChangesLeavesNothingLive(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		r := e.Register("alice")
		for round := 0; round < 6; round++ {
			acct := createAccount(t, e, r.Token, fmt.Sprintf("race%d", round), 2)
			_, keyToken := key(t, e, r.Token, acct.ID)
			e.Race(4, func(i int) apitest.Request {
				switch i {
				case 0:
					return apitest.Request{Token: r.Token, Query: `mutation($id: ID!) { removeServerAccount(id: $id) { removedID } }`,
						Variables: map[string]any{"id": acct.ID}}
				case 1:
					return apitest.Request{Token: r.Token, Query: newKey, Variables: map[string]any{"id": acct.ID}}
				case 2:
					return apitest.Request{Token: r.Token, Query: update, Variables: map[string]any{"id": acct.ID, "in": map[string]any{"licenseLimit": 4}}}
				}
				return apitest.Request{Query: register, Variables: map[string]any{"key": keyToken, "host": "n", "ip": "198.51.100.5"}}
			})
		}
		ctx := removal.Include(viewer.SystemContext(e.Ctx()))
		removed, err := e.DB.Client.ServerAccount.Query().Where(serveraccount.RemovedAtNotNil()).IDs(ctx)
		if err != nil || len(removed) != 6 {
			t.Fatalf("%d accounts removed (%v)", len(removed), err)
		}
		keys, _ := e.DB.Client.ActivationKey.Query().Where(activationkey.ServerAccountIDIn(removed...)).Count(ctx)
		servers, _ := e.DB.Client.ServerAccount.Query().Where(serveraccount.IDIn(removed...), serveraccount.HasServers()).Count(ctx)
		open, _ := e.DB.Client.BillableRun.Query().Where(billablerun.SubjectIDIn(removed...), billablerun.EndedAtIsNil()).Count(ctx)
		if keys+servers+open != 0 {
			t.Fatalf("removed accounts keep %d keys, %d have servers, %d open runs", keys, servers, open)
		}
	})
}

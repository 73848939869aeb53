package serveraccounts

import (
	"context"
	"fmt"
	"strings"

	"entgo.io/ent/dialect/sql"

	"clnd/ent"
	"clnd/ent/activationkey"
	"clnd/ent/server"
	"clnd/ent/serveraccount"
	"clnd/internal/accounts"
	"clnd/internal/apperr"
	"clnd/internal/billing"
	"clnd/internal/clock"
	"clnd/internal/events"
	"clnd/internal/store"
)

// Changes edits a server account; nil fields stay as they are.
type Changes struct {
	FirstName, LastName, Company, Email *string
	LicenseLimit                        *int
}

// Update applies changes, in tx. The limit never goes below the servers
// registered (CONFLICT): that is one conditional UPDATE, consistent with
// Register's own (used < limit). A new limit closes the account's billable
// run and opens the next; raising it needs an account in good standing.
func Update(ctx context.Context, tx *ent.Tx, id string, c Changes, goodStanding func(resellerID string) error) (*ent.ServerAccount, error) {
	acct, err := lockAccount(ctx, tx, id, store.ForUpdate)
	if err != nil {
		return nil, err
	}
	before := *acct
	u := tx.ServerAccount.UpdateOne(acct)
	if err := checkNames(map[string]*string{"firstName": c.FirstName, "lastName": c.LastName, "company": c.Company}); err != nil {
		return nil, err
	}
	if c.FirstName != nil {
		u.SetFirstName(*c.FirstName)
	}
	if c.LastName != nil {
		u.SetLastName(*c.LastName)
	}
	if c.Company != nil {
		u.SetCompany(*c.Company)
	}
	if c.Email != nil {
		email, err := checkEmail(*c.Email)
		if err != nil {
			return nil, err
		}
		u.SetEmail(email)
	}
	if _, err := u.Save(ctx); err != nil {
		return nil, err
	}
	if c.LicenseLimit != nil && *c.LicenseLimit != acct.LicenseLimit {
		limit := *c.LicenseLimit
		if limit < 0 || limit > MaxLicenseLimit {
			return nil, apperr.Input("licenseLimit", "licenseLimit is 0 to %d", MaxLicenseLimit)
		}
		if limit > acct.LicenseLimit {
			if err := goodStanding(acct.ResellerID); err != nil {
				return nil, err
			}
		}
		n, err := tx.ServerAccount.Update().
			Where(serveraccount.ID(id), func(s *sql.Selector) {
				s.Where(sql.LTE(s.C(serveraccount.FieldUsedLicenses), limit))
			}).
			SetLicenseLimit(limit).
			Save(ctx)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, apperr.New(apperr.Conflict, "licenseLimit cannot go below the %d servers registered", acct.UsedLicenses)
		}
		acct, err = tx.ServerAccount.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		now := clock.Now(ctx)
		if err := billing.Close(ctx, tx, id, now); err != nil {
			return nil, err
		}
		if err := openLimitRun(ctx, tx, acct, now); err != nil {
			return nil, err
		}
	}
	after, err := tx.ServerAccount.Get(ctx, id)
	if err != nil || !changed(&before, after) {
		return after, err
	}
	_, err = events.Emit(ctx, tx, events.ServerAccountUpdated, after.ResellerID, events.ServerAccountOf(after))
	return after, err
}

// changed says whether an update changed what the API shows of an account:
// an update that sets every field to what it was writes no event.
func changed(before, after *ent.ServerAccount) bool {
	return before.FirstName != after.FirstName || before.LastName != after.LastName ||
		before.Company != after.Company || before.Email != after.Email ||
		before.LicenseLimit != after.LicenseLimit
}

// Remove removes an account and stops its billing. The account is stamped
// removed_at, not deleted (ent/schema.Removal), so the invoices that billed
// its limit still point at it; its keys and servers are deleted with it, so
// a key registers nothing more and a server's credential checks in no more.
// Removing it again is NOT_FOUND, as for an account that never existed.
func Remove(ctx context.Context, tx *ent.Tx, id string) error {
	acct, err := lockAccount(ctx, tx, id, store.ForUpdate)
	if err != nil {
		return err
	}
	if _, err := tx.Server.Delete().Where(server.ServerAccountID(id)).Exec(ctx); err != nil {
		return err
	}
	if _, err := tx.ActivationKey.Delete().Where(activationkey.ServerAccountID(id)).Exec(ctx); err != nil {
		return err
	}
	now := clock.Now(ctx)
	n, err := tx.ServerAccount.Update().
		Where(serveraccount.ID(id), serveraccount.RemovedAtIsNil()).
		SetRemovedAt(now).
		SetUsedLicenses(0).
		Save(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		return apperr.NotFoundf("no server account with ID %q", id)
	}
	if err := billing.Close(ctx, tx, id, now); err != nil {
		return err
	}
	removed := *acct
	removed.RemovedAt, removed.UsedLicenses = &now, 0
	_, err = events.Emit(ctx, tx, events.ServerAccountRemoved, acct.ResellerID, events.ServerAccountOf(&removed))
	return err
}

// KeyFor makes a new activation key for one of the caller's accounts.
func KeyFor(ctx context.Context, tx *ent.Tx, accountID string) (*ent.ActivationKey, error) {
	acct, err := lockAccount(ctx, tx, accountID, store.ForShare)
	if err != nil {
		return nil, err
	}
	return CreateKey(ctx, tx, acct, clock.Now(ctx))
}

// lockAccount reads one of the caller's live accounts and locks it until tx
// ends, so that a removal and a change (or a new key) of the same account
// take turns: whichever waits sees the other's work, and a removed account
// is NOT_FOUND.
func lockAccount(ctx context.Context, tx *ent.Tx, id string, lock func(*sql.Selector)) (*ent.ServerAccount, error) {
	acct, err := tx.ServerAccount.Query().Where(serveraccount.ID(id)).Modify(lock).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.NotFoundf("no server account with ID %q", id)
	}
	return acct, err
}

// RemoveKey deletes an activation key; the servers registered with it stay.
func RemoveKey(ctx context.Context, tx *ent.Tx, id string) error {
	n, err := tx.ActivationKey.Delete().Where(activationkey.ID(id)).Exec(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		return apperr.NotFoundf("no activation key with ID %q", id)
	}
	return nil
}

// RemoveServer unregisters a server, freeing its place in the account's
// limit and in its key's usage.
func RemoveServer(ctx context.Context, tx *ent.Tx, id string) error {
	srv, err := tx.Server.Get(ctx, id)
	if ent.IsNotFound(err) {
		return apperr.NotFoundf("no server with ID %q", id)
	}
	if err != nil {
		return err
	}
	if err := tx.Server.DeleteOne(srv).Exec(ctx); err != nil {
		return err
	}
	if err := tx.ServerAccount.UpdateOneID(srv.ServerAccountID).AddUsedLicenses(-1).Exec(ctx); err != nil {
		return err
	}
	if srv.ActivationKeyID != nil {
		err := tx.ActivationKey.Update().Where(activationkey.ID(*srv.ActivationKeyID)).AddUsage(-1).Exec(ctx)
		if err != nil {
			return fmt.Errorf("updating the key's usage: %w", err)
		}
	}
	return nil
}

// checkNames trims the given names in place and bounds their length, by
// the same rule as a reseller's names.
func checkNames(names map[string]*string) error {
	for field, v := range names {
		if v == nil {
			continue
		}
		name, err := accounts.CheckName(field, *v)
		if err != nil {
			return err
		}
		*v = name
	}
	return nil
}

// checkEmail allows a server account to have no email address.
func checkEmail(email string) (string, error) {
	if strings.TrimSpace(email) == "" {
		return "", nil
	}
	return accounts.CheckEmail("email", email)
}

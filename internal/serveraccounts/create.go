// Package serveraccounts holds the rules of Spacewalk-style server accounts:
// license limits, activation keys and the servers that register with them.
package serveraccounts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"clnd/ent"
	"clnd/ent/billablerun"
	"clnd/ent/product"
	"clnd/internal/accounts"
	"clnd/internal/apperr"
	"clnd/internal/billing"
	"clnd/internal/catalog"
	"clnd/internal/events"
	"clnd/internal/store"
)

// NewAccount is what it takes to open a server account.
type NewAccount struct {
	ResellerID   string
	Login        string
	FirstName    string
	LastName     string
	Company      string
	Email        string
	LicenseLimit int
	At           time.Time
}

// MaxLicenseLimit bounds one account's limit.
const MaxLicenseLimit = 100_000

// Create opens a server account and the billable run of its limit (limit ×
// the CLOUDLINUX_OS price), in tx.
func Create(ctx context.Context, tx *ent.Tx, n NewAccount) (*ent.ServerAccount, error) {
	login, err := accounts.NormalizeLogin("login", n.Login)
	if err != nil {
		return nil, err
	}
	if n.LicenseLimit < 0 || n.LicenseLimit > MaxLicenseLimit {
		return nil, apperr.Input("licenseLimit", "licenseLimit is 0 to %d", MaxLicenseLimit)
	}
	email, err := checkEmail(n.Email)
	if err != nil {
		return nil, err
	}
	if err := checkNames(map[string]*string{"firstName": &n.FirstName, "lastName": &n.LastName, "company": &n.Company}); err != nil {
		return nil, err
	}
	acct, err := tx.ServerAccount.Create().
		SetResellerID(n.ResellerID).
		SetLogin(login).
		SetFirstName(n.FirstName).
		SetLastName(n.LastName).
		SetCompany(n.Company).
		SetEmail(email).
		SetLicenseLimit(n.LicenseLimit).
		SetCreatedAt(n.At).
		Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, apperr.Wrap(err, apperr.Conflict, "the login %q is taken", login)
	}
	if err != nil {
		return nil, err
	}
	if err := openLimitRun(ctx, tx, acct, n.At); err != nil {
		return nil, err
	}
	_, err = events.Emit(ctx, tx, events.ServerAccountCreated, acct.ResellerID, events.ServerAccountOf(acct))
	return acct, err
}

func openLimitRun(ctx context.Context, tx *ent.Tx, acct *ent.ServerAccount, at time.Time) error {
	prod, err := tx.Product.Query().Where(product.TypeEQ(catalog.CloudLinuxOS)).Modify(store.ForShare).Only(ctx)
	if err != nil {
		return err
	}
	return billing.Open(ctx, tx, billing.Run{
		ResellerID:  acct.ResellerID,
		Kind:        billablerun.KindSERVER_ACCOUNT,
		SubjectID:   acct.ID,
		ProductID:   &prod.ID,
		Description: fmt.Sprintf("Server account %s, limit %d", acct.Login, acct.LicenseLimit),
		Quantity:    acct.LicenseLimit,
		UnitPrice:   prod.MonthlyPrice,
	}, at)
}

// CreateKey makes a new activation key for an account, in tx.
func CreateKey(ctx context.Context, tx *ent.Tx, acct *ent.ServerAccount, at time.Time) (*ent.ActivationKey, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	return tx.ActivationKey.Create().
		SetResellerID(acct.ResellerID).
		SetServerAccountID(acct.ID).
		SetToken(fmt.Sprintf("%d-%s", 1, hex.EncodeToString(b[:]))).
		SetCreatedAt(at).
		Save(ctx)
}

// Package accounts holds the rules of reseller accounts.
package accounts

import (
	"context"

	"entgo.io/ent/dialect/sql"

	"clnd/ent"
	"clnd/ent/backup"
	"clnd/ent/iplicense"
	"clnd/ent/serveraccount"
	"clnd/internal/catalog"
	"clnd/internal/money"
	"clnd/internal/pricelist"
)

// Summary is a reseller's licenses at a glance.
type Summary struct {
	TotalLicenses       int
	UnusedLicenses      int
	LicenseCostPerMonth money.Cents
	IPLicenses          int
}

// Summarize computes a reseller's summary at current prices:
// licenseCostPerMonth = Σ IP-license prices + Σ server-account limits × the
// CLOUDLINUX_OS price + Σ backup GB × the price per GB.
func Summarize(ctx context.Context, client *ent.Client, resellerID string) (*Summary, error) {
	prices, err := pricelist.PricesByType(ctx, client)
	if err != nil {
		return nil, err
	}
	var byType []struct {
		Type  catalog.LicenseType `json:"type"`
		Count int                 `json:"count"`
	}
	err = client.IPLicense.Query().
		Where(iplicense.ResellerID(resellerID)).
		GroupBy(iplicense.FieldType).
		Aggregate(ent.Count()).
		Scan(ctx, &byType)
	if err != nil {
		return nil, err
	}
	s := &Summary{}
	for _, t := range byType {
		s.IPLicenses += t.Count
		s.LicenseCostPerMonth += prices[t.Type] * money.Cents(t.Count)
	}
	var accounts []struct {
		Limit int `json:"limit"`
		Used  int `json:"used"`
	}
	err = client.ServerAccount.Query().
		Where(serveraccount.ResellerID(resellerID)).
		Aggregate(
			ent.As(sumOrZero(serveraccount.FieldLicenseLimit), "limit"),
			ent.As(sumOrZero(serveraccount.FieldUsedLicenses), "used"),
		).
		Scan(ctx, &accounts)
	if err != nil {
		return nil, err
	}
	s.TotalLicenses = s.IPLicenses + accounts[0].Limit
	s.UnusedLicenses = accounts[0].Limit - accounts[0].Used
	s.LicenseCostPerMonth += prices[catalog.CloudLinuxOS] * money.Cents(accounts[0].Limit)
	gb, err := client.Backup.Query().
		Where(backup.ResellerID(resellerID)).
		Aggregate(sumOrZero(backup.FieldSizeGB)).
		Int(ctx)
	if err != nil {
		return nil, err
	}
	perGB, err := pricelist.BackupPricePerGB(ctx, client)
	if err != nil {
		return nil, err
	}
	s.LicenseCostPerMonth += perGB * money.Cents(gb)
	return s, nil
}

// sumOrZero is SUM(column) that answers 0, not NULL, over no rows.
func sumOrZero(column string) ent.AggregateFunc {
	return func(s *sql.Selector) string {
		return "COALESCE(SUM(" + s.C(column) + "), 0)"
	}
}

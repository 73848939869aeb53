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

// Summarize computes one reseller's summary at current prices.
func Summarize(ctx context.Context, client *ent.Client, resellerID string) (*Summary, error) {
	all, err := SummarizeMany(ctx, client, []string{resellerID})
	if err != nil {
		return nil, err
	}
	return all[resellerID], nil
}

// SummarizeMany computes the summaries of many resellers with five
// statements, however many there are (a page of an operator's reseller list
// must not cost four statements per row):
// licenseCostPerMonth = Σ IP-license prices + Σ server-account limits × the
// CLOUDLINUX_OS price + Σ backup GB × the price per GB.
func SummarizeMany(ctx context.Context, client *ent.Client, resellerIDs []string) (map[string]*Summary, error) {
	out := make(map[string]*Summary, len(resellerIDs))
	for _, id := range resellerIDs {
		out[id] = &Summary{}
	}
	if len(resellerIDs) == 0 {
		return out, nil
	}
	prices, err := pricelist.PricesByType(ctx, client)
	if err != nil {
		return nil, err
	}
	perGB, err := pricelist.BackupPricePerGB(ctx, client)
	if err != nil {
		return nil, err
	}
	var licenses []struct {
		ResellerID string              `json:"reseller_id"`
		Type       catalog.LicenseType `json:"type"`
		Count      int                 `json:"count"`
	}
	err = client.IPLicense.Query().
		Where(iplicense.ResellerIDIn(resellerIDs...)).
		GroupBy(iplicense.FieldResellerID, iplicense.FieldType).
		Aggregate(ent.Count()).
		Scan(ctx, &licenses)
	if err != nil {
		return nil, err
	}
	for _, l := range licenses {
		s := out[l.ResellerID]
		s.IPLicenses += l.Count
		s.TotalLicenses += l.Count
		s.LicenseCostPerMonth += prices[l.Type] * money.Cents(l.Count)
	}
	var accounts []struct {
		ResellerID string `json:"reseller_id"`
		Limit      int    `json:"limit"`
		Used       int    `json:"used"`
	}
	err = client.ServerAccount.Query().
		Where(serveraccount.ResellerIDIn(resellerIDs...)).
		GroupBy(serveraccount.FieldResellerID).
		Aggregate(
			ent.As(sumOrZero(serveraccount.FieldLicenseLimit), "limit"),
			ent.As(sumOrZero(serveraccount.FieldUsedLicenses), "used"),
		).
		Scan(ctx, &accounts)
	if err != nil {
		return nil, err
	}
	for _, a := range accounts {
		s := out[a.ResellerID]
		s.TotalLicenses += a.Limit
		s.UnusedLicenses += a.Limit - a.Used
		s.LicenseCostPerMonth += prices[catalog.CloudLinuxOS] * money.Cents(a.Limit)
	}
	var backups []struct {
		ResellerID string `json:"reseller_id"`
		GB         int    `json:"gb"`
	}
	err = client.Backup.Query().
		Where(backup.ResellerIDIn(resellerIDs...)).
		GroupBy(backup.FieldResellerID).
		Aggregate(ent.As(sumOrZero(backup.FieldSizeGB), "gb")).
		Scan(ctx, &backups)
	if err != nil {
		return nil, err
	}
	for _, b := range backups {
		out[b.ResellerID].LicenseCostPerMonth += perGB * money.Cents(b.GB)
	}
	return out, nil
}

// sumOrZero is SUM(column) that answers 0, not NULL, over no rows.
func sumOrZero(column string) ent.AggregateFunc {
	return func(s *sql.Selector) string {
		return "COALESCE(SUM(" + s.C(column) + "), 0)"
	}
}

// Package pricelist holds the operator-edited part of the catalogue: product
// prices, the backup price per GB-month and the datacenters.
package pricelist

import (
	"context"
	"database/sql"
	"errors"
	"strconv"

	"clnd/ent"
	"clnd/ent/datacenter"
	"clnd/ent/product"
	"clnd/ent/setting"
	"clnd/internal/catalog"
	"clnd/internal/money"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

// BackupPriceKey is the setting that holds the backup price per GB-month in
// cents (read in SQL by internal/sqlgraph too).
const BackupPriceKey = "backup.price_per_gb_cents"

// Demo defaults, used only when the catalogue is first created. They are
// demo values, not CloudLinux's prices: operators set real ones with
// setProductPrice and setBackupPricePerGB.
var (
	DemoPrices = map[catalog.LicenseType]money.Cents{
		catalog.CloudLinuxOS:            money.MustParse("31.00"),
		catalog.CloudLinuxSolo:          money.MustParse("8.00"),
		catalog.KernelCare:              money.MustParse("3.00"),
		catalog.KernelCarePlus:          money.MustParse("4.50"),
		catalog.ImunifyAVPlus:           money.MustParse("6.00"),
		catalog.Imunify360SingleUser:    money.MustParse("12.00"),
		catalog.Imunify360UpTo30Users:   money.MustParse("20.00"),
		catalog.Imunify360UpTo250Users:  money.MustParse("30.00"),
		catalog.Imunify360UnlimitedUser: money.MustParse("45.00"),
	}
	DemoBackupPricePerGB = money.MustParse("0.10")
	DemoDatacenters      = []struct{ Code, Name string }{
		{"us-east", "US East (demo)"},
		{"eu-central", "EU Central (demo)"},
		{"ap-southeast", "Asia Pacific Southeast (demo)"},
	}
)

// EnsureCatalogue creates the products, datacenters and backup price that are
// missing, with the demo defaults; it never changes what exists. Every
// instance may call it at start-up.
func EnsureCatalogue(ctx context.Context, client *ent.Client) error {
	ctx = viewer.SystemContext(ctx)
	for _, e := range catalog.Entries {
		err := client.Product.Create().
			SetType(e.Type).
			SetName(e.Name).
			SetFamily(e.Family).
			SetClnTypeCode(e.CLNTypeCode).
			SetMonthlyPrice(DemoPrices[e.Type]).
			OnConflictColumns(product.FieldType).
			DoNothing().
			Exec(ctx)
		if err != nil && !isNoRows(err) {
			return err
		}
	}
	for _, d := range DemoDatacenters {
		err := client.Datacenter.Create().
			SetCode(d.Code).
			SetName(d.Name).
			OnConflictColumns(datacenter.FieldCode).
			DoNothing().
			Exec(ctx)
		if err != nil && !isNoRows(err) {
			return err
		}
	}
	err := client.Setting.Create().
		SetID(BackupPriceKey).
		SetValue(strconv.FormatInt(int64(DemoBackupPricePerGB), 10)).
		OnConflictColumns(setting.FieldID).
		DoNothing().
		Exec(ctx)
	if err != nil && !isNoRows(err) {
		return err
	}
	return nil
}

// isNoRows tells ent's "nothing inserted" answer to ON CONFLICT DO NOTHING
// apart from a real failure.
func isNoRows(err error) bool {
	return errors.Is(err, sql.ErrNoRows)
}

func readBackupPricePerGB(ctx context.Context, client *ent.Client) (money.Cents, error) {
	s, err := client.Setting.Get(ctx, BackupPriceKey)
	if err != nil {
		return 0, err
	}
	cents, err := strconv.ParseInt(s.Value, 10, 64)
	return money.Cents(cents), err
}

// LockedBackupPricePerGB reads the price in tx and keeps it from changing
// until tx ends, for a backup's billable run opened at it.
func LockedBackupPricePerGB(ctx context.Context, tx *ent.Tx) (money.Cents, error) {
	s, err := tx.Setting.Query().Where(setting.ID(BackupPriceKey)).Modify(store.ForShare).Only(ctx)
	if err != nil {
		return 0, err
	}
	cents, err := strconv.ParseInt(s.Value, 10, 64)
	return money.Cents(cents), err
}

func readProducts(ctx context.Context, client *ent.Client) ([]*ent.Product, error) {
	return client.Product.Query().Order(product.ByClnTypeCode(), product.ByID()).All(ctx)
}

// Datacenters lists the datacenters by code.
func Datacenters(ctx context.Context, client *ent.Client) ([]*ent.Datacenter, error) {
	return client.Datacenter.Query().Order(datacenter.ByCode()).All(ctx)
}

// PricesByType maps every license type to its current monthly price.
func PricesByType(ctx context.Context, client *ent.Client) (map[catalog.LicenseType]money.Cents, error) {
	products, err := Products(ctx, client)
	if err != nil {
		return nil, err
	}
	prices := make(map[catalog.LicenseType]money.Cents, len(products))
	for _, p := range products {
		prices[p.Type] = p.MonthlyPrice
	}
	return prices, nil
}

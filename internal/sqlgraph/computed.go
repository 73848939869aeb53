package sqlgraph

import (
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"clnd/internal/autopay"
	"clnd/internal/catalog"
	"clnd/internal/licensing"
	"clnd/internal/pricelist"
)

// computedField writes a field that a Go resolver computes, as SQL that
// gives the same answer. A field of a hand-written schema file that is not
// in this table makes its root field fall back to gqlgen.
type computedField func(k *compilation, t *Type, alias string, f graphql.CollectedField) (string, error)

// computed is the table of computed fields the compiler knows, by
// "Type.field". Each mirrors one resolver; the differential tests hold them
// to it.
var computed = map[string]computedField{
	"IPLicense.status":     licenseStatus,
	"Backup.monthlyPrice":  backupMonthlyPrice,
	"Invoice.downloadURL":  invoiceDownloadURL,
	"Reseller.autopayment": resellerAutopayment,
	"Reseller.summary":     resellerSummary,
	"Backup.managementURL": backupManagementURL,
	"Checkout.redirectURL": checkoutRedirectURL,
}

// backupManagementURL mirrors the resolver's signed link: the statement
// marks the backup and Finish signs the link in Go (HMAC with the backup
// service's secret, which never reaches the database).
func backupManagementURL(k *compilation, _ *Type, alias string, _ graphql.CollectedField) (string, error) {
	k.placeholder = true
	return "json_build_array(chr(1) || '" + backupLink + "', " + col(alias, "id") + ")", nil
}

// checkoutRedirectURL mirrors the resolver: the provider's approve page when
// it gave one (PayPal), else clnd's own sandbox page.
func checkoutRedirectURL(k *compilation, _ *Type, alias string, _ graphql.CollectedField) (string, error) {
	approve := col(alias, "approve_url")
	return "(CASE WHEN " + approve + " <> '' THEN " + approve + " ELSE " + k.b.arg(lateCheckoutBase) + "::text || " + col(alias, "id") + " END)", nil
}

// licenseStatus mirrors licensing.StatusAt (see staleCutoff).
func licenseStatus(k *compilation, _ *Type, alias string, _ graphql.CollectedField) (string, error) {
	last := col(alias, "last_check_in")
	return "(CASE WHEN " + last + " IS NULL THEN " + literal(string(licensing.NeverCheckedIn)) +
		" WHEN " + last + " < " + k.b.arg(lateStaleCutoff) + "::timestamptz THEN " + literal(string(licensing.Stale)) +
		" ELSE " + literal(string(licensing.Active)) + " END)", nil
}

// staleCutoff is licenseStatus's parameter: STALE when now − lastCheckIn
// exceeds the window, that is when lastCheckIn < now − window. It is
// rounded up to PostgreSQL's microsecond so the comparison is exact.
func staleCutoff(now time.Time, window time.Duration) time.Time {
	cutoff := now.Add(-window)
	if r := cutoff.Truncate(time.Microsecond); !r.Equal(cutoff) {
		return r.Add(time.Microsecond).UTC()
	}
	return cutoff.UTC()
}

// backupPerGB is the backup price setting in cents.
func (k *compilation) backupPerGB() string {
	return "(SELECT sv.value::bigint FROM settings sv WHERE sv.id = " + literal(pricelist.BackupPriceKey) + ")"
}

func backupMonthlyPrice(k *compilation, _ *Type, alias string, _ graphql.CollectedField) (string, error) {
	return moneyExpr("(" + col(alias, "size_gb") + " * " + k.backupPerGB() + ")"), nil
}

// invoiceDownloadURL mirrors the resolver's signed link as
// backupManagementURL does: the statement marks the invoice with the
// request's origin and Finish signs the link in Go.
func invoiceDownloadURL(k *compilation, _ *Type, alias string, _ graphql.CollectedField) (string, error) {
	k.placeholder = true
	return "json_build_array(chr(1) || '" + invoiceLink + "', " + col(alias, "id") + ", " + k.b.arg(lateOrigin) + "::text)", nil
}

// resellerAutopayment mirrors graph.autopaymentOf.
func resellerAutopayment(k *compilation, _ *Type, alias string, f graphql.CollectedField) (string, error) {
	fields, err := k.collect(f.Selections, "Autopayment")
	if err != nil {
		return "", err
	}
	mode := col(alias, "autopay_mode")
	when := func(m, then string) string {
		return "(CASE WHEN " + mode + " = " + literal(m) + " THEN " + then + " END)"
	}
	return k.build(fields, func(f graphql.CollectedField) (string, error) {
		switch f.Name {
		case "__typename":
			return literal("Autopayment"), nil
		case "mode":
			return mode, nil
		case "threshold":
			return when("AUTO_ADD_FUNDS", literal(autopay.AddFundsThreshold.String())), nil
		case "targetAmount":
			return when("AUTO_ADD_FUNDS", moneyExpr(col(alias, "autopay_target"))), nil
		case "minimumCharge":
			return when("AUTO_REPAY", literal(autopay.MinimumRepay.String())), nil
		}
		return "", fallback("Autopayment.%s", f.Name)
	})
}

// resellerSummary mirrors accounts.SummarizeMany: one aggregate per table
// (each read through its tenancy rule) in FROM, so PostgreSQL computes each
// once however many fields use it.
func resellerSummary(k *compilation, _ *Type, alias string, f graphql.CollectedField) (string, error) {
	fields, err := k.collect(f.Selections, "AccountSummary")
	if err != nil {
		return "", err
	}
	// owned aggregates over the reseller's rows of typ.
	owned := func(typ, aggs, join string) (string, error) {
		t := k.c.types[typ]
		a := "sx" // each subquery has its own scope; no outer alias starts with s
		where := col(a, "reseller_id") + " = " + col(alias, "id")
		tenant, err := k.tenant(t, a)
		if err != nil {
			return "", err
		}
		if tenant != "" {
			where += " AND " + tenant
		}
		if live := liveRows(t, a); live != "" {
			where += " AND " + live
		}
		return "(SELECT " + aggs + " FROM " + ident(t.Table) + " " + a + join + " WHERE " + where + ")", nil
	}
	var from []string
	for _, q := range []struct{ typ, aggs, join, name string }{
		// A license whose product is gone still counts (prices[type] is 0 in Go).
		{"IPLicense", "count(*) AS ip, coalesce(sum(sp.monthly_price), 0)::bigint AS ipcost", " LEFT JOIN products sp ON sp.type = sx.type", "lic"},
		{"ServerAccount", "coalesce(sum(sx.license_limit), 0)::bigint AS lim, coalesce(sum(sx.used_licenses), 0)::bigint AS used", "", "acc"},
		{"Backup", "coalesce(sum(sx.size_gb), 0)::bigint AS gb", "", "bk"},
	} {
		e, err := owned(q.typ, q.aggs, q.join)
		if err != nil {
			return "", err
		}
		from = append(from, e+" "+q.name)
	}
	from = append(from, "(SELECT coalesce((SELECT sp.monthly_price FROM products sp WHERE sp.type = "+
		literal(string(catalog.CloudLinuxOS))+"), 0) AS clos, "+k.backupPerGB()+" AS pergb) prc")
	obj, err := k.build(fields, func(f graphql.CollectedField) (string, error) {
		switch f.Name {
		case "__typename":
			return literal("AccountSummary"), nil
		case "totalLicenses":
			return "(lic.ip + acc.lim)", nil
		case "unusedLicenses":
			return "(acc.lim - acc.used)", nil
		case "licenseCostPerMonth":
			return moneyExpr("(lic.ipcost + acc.lim * prc.clos + bk.gb * prc.pergb)"), nil
		case "ipLicenses":
			return "lic.ip", nil
		}
		return "", fallback("AccountSummary.%s", f.Name)
	})
	if err != nil {
		return "", err
	}
	return "(SELECT " + obj + " FROM " + strings.Join(from, ", ") + ")", nil
}

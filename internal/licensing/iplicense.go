package licensing

import (
	"context"
	"fmt"
	"strings"
	"time"

	"clnd/ent"
	"clnd/ent/billablerun"
	"clnd/ent/product"
	"clnd/internal/apperr"
	"clnd/internal/billing"
	"clnd/internal/catalog"
	"clnd/internal/events"
	"clnd/internal/pricelist"
	"clnd/internal/store"
)

// NewIPLicense is what it takes to license a server by address.
type NewIPLicense struct {
	ResellerID string
	IP         string
	Type       catalog.LicenseType
	Hostname   string
	// AddedAt is when the license starts (and its billing); an import keeps
	// the original date, everything else passes the clock's now.
	AddedAt time.Time
	// Sandbox accepts the documentation address ranges (sandbox mode, demo data).
	Sandbox bool
}

// CreateIPLicense validates and stores a license and opens its billable run,
// in tx. One address holds at most one license per product family across
// all resellers: the unique index decides, so concurrent adds cannot both win.
func CreateIPLicense(ctx context.Context, tx *ent.Tx, n NewIPLicense) (*ent.IPLicense, error) {
	lic, err := createIPLicense(ctx, tx, n)
	if err != nil {
		return nil, err
	}
	return lic, emitLicense(ctx, tx, events.LicenseAdded, lic)
}

// createIPLicense is CreateIPLicense without its event: an import writes
// the events of all its licenses at once.
func createIPLicense(ctx context.Context, tx *ent.Tx, n NewIPLicense) (*ent.IPLicense, error) {
	entry, ok := catalog.Lookup(n.Type)
	if !ok {
		return nil, apperr.Input("type", "unknown license type %q", n.Type)
	}
	ip, err := ParsePublicIP("ip", n.IP, n.Sandbox)
	if err != nil {
		return nil, err
	}
	hostname, err := CleanHostname("hostname", n.Hostname)
	if err != nil {
		return nil, err
	}
	// The shared lock keeps setProductPrice from repricing between this read
	// and the run opened at the price read (it waits for this transaction).
	prod, err := tx.Product.Query().Where(product.TypeEQ(n.Type)).Modify(store.ForShare).Only(ctx)
	if err != nil {
		return nil, err
	}
	lic, err := tx.IPLicense.Create().
		SetResellerID(n.ResellerID).
		SetIP(ip).
		SetType(n.Type).
		SetFamily(entry.Family).
		SetHostname(hostname).
		SetProductID(prod.ID).
		SetCreatedAt(n.AddedAt).
		Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, apperr.Wrap(err, apperr.Conflict, "%s already holds a %s license", ip, strings.ToLower(string(entry.Family)))
	}
	if err != nil {
		return nil, err
	}
	// An import's license was added in the past: it is billed at the price
	// in effect on each day since, like a license added then.
	changes, err := pricelist.ProductPriceChanges(ctx, tx, prod.ID, n.AddedAt)
	if err != nil {
		return nil, err
	}
	err = billing.OpenSince(ctx, tx, billing.Run{
		ResellerID:  n.ResellerID,
		Kind:        billablerun.KindIP_LICENSE,
		SubjectID:   lic.ID,
		ProductID:   &prod.ID,
		Description: fmt.Sprintf("%s for %s", prod.Name, ip),
		Quantity:    1,
		UnitPrice:   prod.MonthlyPrice,
	}, n.AddedAt, changes)
	if err != nil {
		return nil, err
	}
	return lic, nil
}

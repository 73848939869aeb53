package billing

import (
	"context"
	"fmt"
	"sort"
	"time"

	"clnd/ent"
	"clnd/ent/backup"
	"clnd/ent/billablerun"
	"clnd/ent/invoice"
	"clnd/ent/iplicense"
	"clnd/ent/product"
	"clnd/ent/reseller"
	"clnd/ent/serveraccount"
	"clnd/ent/transaction"
	"clnd/internal/events"
	"clnd/internal/ledger"
	"clnd/internal/money"
	"clnd/internal/removal"
	"clnd/internal/store"
)

// line is an invoice line being assembled: one per product and kind of thing.
// Its quantity counts the line's own unit (licenses, or GB for backups):
// each thing billed in the period counts with the largest quantity it had
// in it, so a full month at one quantity and price reads exactly
// quantity × unitPrice = subtotal, and a partial or changed one never
// bills more than that; its items show the proration.
type line struct {
	title     string
	productID *string
	unitPrice money.Cents
	// quantities is each billed thing's largest quantity in the period.
	quantities map[string]int
	items      []item
	subtotal   money.Cents
}

func (l *line) quantity() int {
	n := 0
	for _, q := range l.quantities {
		n += q
	}
	return n
}

type item struct {
	run        *ent.BillableRun
	start, end time.Time
	amount     money.Cents
}

// InvoiceReseller bills one reseller for a period that has ended, in tx: one
// INVOICE whose lines group the period's runs by product, and a CHARGE for
// its total. It returns nil when the reseller had nothing billable in the
// period or was already invoiced for it, so running it twice bills nothing twice.
func InvoiceReseller(ctx context.Context, tx *ent.Tx, resellerID string, p Period, now time.Time) (*ent.Invoice, error) {
	if now.Before(p.End) {
		return nil, fmt.Errorf("billing: period %s has not ended", p)
	}
	exists, err := tx.Invoice.Query().
		Where(invoice.ResellerID(resellerID), invoice.BillingPeriod(p.String())).
		Exist(ctx)
	if err != nil || exists {
		return nil, err
	}
	runs, err := tx.BillableRun.Query().
		Where(
			billablerun.ResellerID(resellerID),
			billablerun.StartedAtLT(p.End),
			billablerun.Or(billablerun.EndedAtIsNil(), billablerun.EndedAtGT(p.Start)),
		).
		Order(billablerun.ByStartedAt(), billablerun.ByID()).
		All(ctx)
	if err != nil || len(runs) == 0 {
		return nil, err
	}
	lines, err := buildLines(ctx, tx, runs, p)
	if err != nil {
		return nil, err
	}
	var total money.Cents
	for _, l := range lines {
		total += l.subtotal
	}
	// Lock order, everywhere: the reseller's row, then the invoice sequence.
	// The row lock also makes the balance the invoice shows the one the
	// charge moves from.
	current, err := tx.Reseller.Query().Where(reseller.ID(resellerID)).Modify(store.ForUpdate).Only(ctx)
	if err != nil {
		return nil, err
	}
	number, err := NextInvoiceNumber(ctx, tx, now)
	if err != nil {
		return nil, err
	}
	inv, err := tx.Invoice.Create().
		SetResellerID(resellerID).
		SetNumber(number).
		SetType(invoice.TypeINVOICE).
		SetBillingPeriod(p.String()).
		SetPeriodStart(p.Start).
		SetPeriodEnd(p.End).
		SetTotal(total).
		SetBalance(current.Balance - total).
		SetCreatedAt(now).
		Save(ctx)
	if err != nil {
		return nil, err
	}
	if err := saveLines(ctx, tx, inv, lines); err != nil {
		return nil, err
	}
	if _, err := events.Emit(ctx, tx, events.InvoiceCreated, resellerID, events.InvoiceOf(inv)); err != nil {
		return nil, err
	}
	if total != 0 {
		_, err := ledger.Post(ctx, tx, ledger.Entry{
			ResellerID:  resellerID,
			Kind:        transaction.KindCHARGE,
			Amount:      -total,
			Description: fmt.Sprintf("Invoice %s for %s", number, p),
			InvoiceID:   &inv.ID,
		})
		if err != nil {
			return nil, err
		}
	}
	return inv, nil
}

// buildLines prorates every run and groups the items into lines.
func buildLines(ctx context.Context, tx *ent.Tx, runs []*ent.BillableRun, p Period) ([]*line, error) {
	products, err := tx.Product.Query().Where(product.IDIn(productIDs(runs)...)).All(ctx)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, pr := range products {
		names[pr.ID] = pr.Name
	}
	periodLength := p.End.Sub(p.Start)
	byKey := map[string]*line{}
	var order []string
	for _, r := range runs {
		start, end, ok := p.Overlap(r.StartedAt, r.EndedAt)
		if !ok {
			continue
		}
		key, title := lineKey(r, names)
		l := byKey[key]
		if l == nil {
			l = &line{title: title, productID: r.ProductID, quantities: map[string]int{}}
			byKey[key] = l
			order = append(order, key)
		}
		amount := Prorate(r.UnitPrice, r.Quantity, end.Sub(start), periodLength)
		l.items = append(l.items, item{run: r, start: start, end: end, amount: amount})
		l.quantities[r.SubjectID] = max(l.quantities[r.SubjectID], r.Quantity)
		l.unitPrice = r.UnitPrice // the latest run's price, runs being in time order
		l.subtotal += amount
	}
	sort.Strings(order)
	lines := make([]*line, 0, len(order))
	for _, k := range order {
		lines = append(lines, byKey[k])
	}
	return lines, nil
}

func lineKey(r *ent.BillableRun, names map[string]string) (key, title string) {
	switch r.Kind {
	case billablerun.KindBACKUP:
		return "3 backup", "Backup storage (per GB-month)"
	case billablerun.KindSERVER_ACCOUNT:
		return "2 account " + deref(r.ProductID), names[deref(r.ProductID)] + " (server account licenses)"
	}
	return "1 license " + names[deref(r.ProductID)], names[deref(r.ProductID)]
}

func productIDs(runs []*ent.BillableRun) []string {
	var out []string
	for _, r := range runs {
		if r.ProductID != nil {
			out = append(out, *r.ProductID)
		}
	}
	return out
}

// saveLines writes the lines and items. Items point at their license, account
// or backup while it still exists; a removed one is named by the description.
func saveLines(ctx context.Context, tx *ent.Tx, inv *ent.Invoice, lines []*line) error {
	live, err := liveSubjects(ctx, tx, lines)
	if err != nil {
		return err
	}
	for i, l := range lines {
		saved, err := tx.InvoiceLine.Create().
			SetResellerID(inv.ResellerID).
			SetInvoiceID(inv.ID).
			SetPosition(i).
			SetTitle(l.title).
			SetQuantity(l.quantity()).
			SetUnitPrice(l.unitPrice).
			SetSubtotal(l.subtotal).
			SetNillableProductID(l.productID).
			Save(ctx)
		if err != nil {
			return err
		}
		builders := make([]*ent.InvoiceItemCreate, len(l.items))
		for j, it := range l.items {
			b := tx.InvoiceItem.Create().
				SetResellerID(inv.ResellerID).
				SetLineID(saved.ID).
				SetDescription(it.run.Description).
				SetPeriodStart(it.start).
				SetPeriodEnd(it.end).
				SetAmount(it.amount)
			if live[it.run.SubjectID] {
				switch it.run.Kind {
				case billablerun.KindIP_LICENSE:
					b.SetLicenseID(it.run.SubjectID)
				case billablerun.KindSERVER_ACCOUNT:
					b.SetServerAccountID(it.run.SubjectID)
				case billablerun.KindBACKUP:
					b.SetBackupID(it.run.SubjectID)
				}
			}
			builders[j] = b
		}
		if err := tx.InvoiceItem.CreateBulk(builders...).Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// liveSubjects tells which billed things still exist, removed or not: an
// item names what it billed even once it is removed (ent/schema.History).
// Only things deleted before removal kept rows are missing.
func liveSubjects(ctx context.Context, tx *ent.Tx, lines []*line) (map[string]bool, error) {
	ctx = removal.Include(ctx)
	byKind := map[billablerun.Kind][]string{}
	for _, l := range lines {
		for _, it := range l.items {
			byKind[it.run.Kind] = append(byKind[it.run.Kind], it.run.SubjectID)
		}
	}
	live := map[string]bool{}
	add := func(ids []string, err error) error {
		for _, id := range ids {
			live[id] = true
		}
		return err
	}
	if err := add(tx.IPLicense.Query().Where(iplicense.IDIn(byKind[billablerun.KindIP_LICENSE]...)).IDs(ctx)); err != nil {
		return nil, err
	}
	if err := add(tx.ServerAccount.Query().Where(serveraccount.IDIn(byKind[billablerun.KindSERVER_ACCOUNT]...)).IDs(ctx)); err != nil {
		return nil, err
	}
	if err := add(tx.Backup.Query().Where(backup.IDIn(byKind[billablerun.KindBACKUP]...)).IDs(ctx)); err != nil {
		return nil, err
	}
	return live, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Package invoicepdf renders an invoice, with its lines and items, as a PDF.
package invoicepdf

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"

	"clnd/ent"
)

// Issuer is who issues clnd's invoices: the operator's company, as
// configured (clnd serve --issuer-name, --issuer-address, --issuer-tax-id).
type Issuer struct {
	Name string
	// Address may span lines, separated by newlines or by a literal \n
	// (what a flag or an environment file can carry).
	Address string
	TaxID   string
}

// lines are what the PDF prints for the issuer, name first.
func (i Issuer) lines() []string {
	var out []string
	for _, l := range append([]string{i.Name}, strings.Split(strings.ReplaceAll(i.Address, `\n`, "\n"), "\n")...) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	if t := strings.TrimSpace(i.TaxID); t != "" {
		out = append(out, "Tax ID: "+t)
	}
	return out
}

// Render writes the invoice (loaded with its reseller, lines and items) as
// an A4 PDF issued by issuer. Rendering is deterministic for the same
// invoice and issuer.
func Render(inv *ent.Invoice, issuer Issuer) ([]byte, error) {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCreationDate(inv.CreatedAt)
	pdf.SetModificationDate(inv.CreatedAt)
	pdf.SetTitle("Invoice "+inv.Number, true)
	author := "clnd"
	if issuer.Name != "" {
		author = issuer.Name
	}
	pdf.SetAuthor(author, true)
	tr := pdf.UnicodeTranslatorFromDescriptor("") // UTF-8 to the core fonts' cp1252
	pdf.AddPage()

	pdf.SetFont("Helvetica", "B", 18)
	pdf.Cell(0, 10, tr(title(inv)))
	pdf.Ln(12)
	for i, l := range issuer.lines() {
		style := ""
		if i == 0 && issuer.Name != "" {
			style = "B"
		}
		pdf.SetFont("Helvetica", style, 10)
		pdf.CellFormat(0, 5, tr(l), "", 1, "", false, 0, "")
	}
	if len(issuer.lines()) > 0 {
		pdf.Ln(4)
	}
	pdf.SetFont("Helvetica", "", 10)
	line := func(label, value string) {
		pdf.CellFormat(40, 6, tr(label), "", 0, "", false, 0, "")
		pdf.CellFormat(0, 6, tr(value), "", 1, "", false, 0, "")
	}
	line("Number", inv.Number)
	line("Date", inv.CreatedAt.UTC().Format("2 January 2006"))
	if inv.PeriodStart != nil && inv.PeriodEnd != nil {
		line("Period", period(*inv.PeriodStart, *inv.PeriodEnd))
	}
	if r := inv.Edges.Reseller; r != nil {
		name := r.Company
		if name == "" {
			name = r.Login
		}
		line("Bill to", name)
		line("", r.BillingEmail)
	}
	pdf.Ln(6)

	if len(inv.Edges.Lines) > 0 {
		pdf.SetFont("Helvetica", "B", 10)
		pdf.SetFillColor(235, 235, 235)
		pdf.CellFormat(100, 7, tr("Description"), "B", 0, "", true, 0, "")
		pdf.CellFormat(20, 7, tr("Qty"), "B", 0, "R", true, 0, "")
		pdf.CellFormat(30, 7, tr("Unit price"), "B", 0, "R", true, 0, "")
		pdf.CellFormat(0, 7, tr("Amount"), "B", 1, "R", true, 0, "")
		for _, l := range inv.Edges.Lines {
			pdf.SetFont("Helvetica", "B", 10)
			pdf.CellFormat(100, 7, tr(l.Title), "", 0, "", false, 0, "")
			pdf.CellFormat(20, 7, fmt.Sprint(l.Quantity), "", 0, "R", false, 0, "")
			pdf.CellFormat(30, 7, "$"+l.UnitPrice.String(), "", 0, "R", false, 0, "")
			pdf.CellFormat(0, 7, "$"+l.Subtotal.String(), "", 1, "R", false, 0, "")
			pdf.SetFont("Helvetica", "", 8)
			for _, it := range l.Edges.Items {
				pdf.CellFormat(6, 5, "", "", 0, "", false, 0, "")
				pdf.CellFormat(94, 5, tr(it.Description), "", 0, "", false, 0, "")
				pdf.CellFormat(50, 5, tr(period(it.PeriodStart, it.PeriodEnd)), "", 0, "R", false, 0, "")
				pdf.CellFormat(0, 5, "$"+it.Amount.String(), "", 1, "R", false, 0, "")
			}
		}
		pdf.Ln(2)
	}
	pdf.SetFont("Helvetica", "B", 11)
	pdf.CellFormat(150, 8, tr("Total"), "T", 0, "R", false, 0, "")
	pdf.CellFormat(0, 8, "$"+inv.Total.String(), "T", 1, "R", false, 0, "")
	pdf.SetFont("Helvetica", "", 10)
	pdf.CellFormat(150, 6, tr("Balance after this document"), "", 0, "R", false, 0, "")
	pdf.CellFormat(0, 6, "$"+inv.Balance.String(), "", 1, "R", false, 0, "")

	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func title(inv *ent.Invoice) string {
	switch inv.Type {
	case "PAYMENT_RECEIVED":
		return "Payment received"
	case "REFUND":
		return "Refund"
	}
	return "Invoice"
}

// period shows [start, end) as the days it covers.
func period(start, end time.Time) string {
	last := end.Add(-time.Nanosecond)
	return start.UTC().Format("2 Jan 2006") + " – " + last.UTC().Format("2 Jan 2006")
}

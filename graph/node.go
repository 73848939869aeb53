package graph

import (
	"context"

	"clnd/ent/activationkey"
	"clnd/ent/apitoken"
	"clnd/ent/backup"
	"clnd/ent/checkout"
	"clnd/ent/datacenter"
	"clnd/ent/gatewayevent"
	"clnd/ent/invoice"
	"clnd/ent/invoiceitem"
	"clnd/ent/invoiceline"
	"clnd/ent/iplicense"
	"clnd/ent/paymentattempt"
	"clnd/ent/paymentmethod"
	"clnd/ent/product"
	"clnd/ent/reseller"
	"clnd/ent/server"
	"clnd/ent/serveraccount"
	"clnd/ent/transaction"
	"clnd/internal/apperr"
	"clnd/internal/ids"
)

// nodeTables are the tables whose rows are GraphQL nodes. IDs of other
// types (sessions, operator tokens, ...) are well-formed but never nodes.
var nodeTables = map[string]bool{
	apitoken.Table: true, activationkey.Table: true, backup.Table: true, checkout.Table: true,
	datacenter.Table: true, gatewayevent.Table: true, invoice.Table: true, invoiceitem.Table: true, invoiceline.Table: true,
	iplicense.Table: true, paymentattempt.Table: true, paymentmethod.Table: true, product.Table: true, reseller.Table: true,
	server.Table: true, serveraccount.Table: true, transaction.Table: true,
}

// maxNodes bounds nodes(ids:) like a page.
const maxNodes = 100

// checkNodeID refuses strings that cannot be an ID of any type.
func checkNodeID(field, id string) error {
	if _, err := ids.Table(id); err != nil {
		return apperr.Input(field, "%q is not a clnd ID", id)
	}
	return nil
}

// nodeTable finds the table of an ID from its prefix.
func nodeTable(_ context.Context, id string) (string, error) {
	table, err := ids.Table(id)
	if err != nil || !nodeTables[table] {
		return "", nodeNotFound(id)
	}
	return table, nil
}

func nodeNotFound(id string) error {
	return apperr.NotFoundf("no object with ID %q", id)
}

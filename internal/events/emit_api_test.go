package events_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/events"
	"clnd/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// event is one entry of Query.events as a partner reads it.
type event struct {
	ID, Type, CreatedAt, ObjectID string
	Object                        map[string]any
}

const eventsQuery = `query($types: [String!], $after: Cursor) {
	events(first: 100, after: $after, where: {types: $types}) {
		edges { node { id type createdAt objectID object } }
		pageInfo { hasNextPage endCursor } } }`

// eventsOf reads every event the token sees, oldest first, optionally of
// some types only.
func eventsOf(t *testing.T, e *apitest.Env, token string, types ...string) []event {
	t.Helper()
	vars := map[string]any{}
	if len(types) > 0 {
		vars["types"] = types
	}
	var all []event
	for {
		var out struct {
			Events struct {
				Edges []struct {
					Node struct {
						ID, Type, CreatedAt, ObjectID string
						Object                        json.RawMessage
					}
				}
				PageInfo struct {
					HasNextPage bool
					EndCursor   *string
				}
			}
		}
		e.Query(token, eventsQuery, vars, &out)
		for _, edge := range out.Events.Edges {
			ev := event{ID: edge.Node.ID, Type: edge.Node.Type, CreatedAt: edge.Node.CreatedAt, ObjectID: edge.Node.ObjectID}
			if err := json.Unmarshal(edge.Node.Object, &ev.Object); err != nil {
				t.Fatalf("event %s: object %s is not a JSON object: %v", ev.ID, edge.Node.Object, err)
			}
			all = append(all, ev)
		}
		if !out.Events.PageInfo.HasNextPage || out.Events.PageInfo.EndCursor == nil {
			return all
		}
		vars["after"] = *out.Events.PageInfo.EndCursor
	}
}

// only returns the single event of typ about objectID among evs, failing
// unless there is exactly one.
func only(t *testing.T, evs []event, typ, objectID string) event {
	t.Helper()
	var found []event
	for _, ev := range evs {
		if ev.Type == typ && ev.ObjectID == objectID {
			found = append(found, ev)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %s event for %s, got %d among %s", typ, objectID, len(found), summary(evs))
	}
	ev := found[0]
	if id, _ := ev.Object["id"].(string); id != objectID {
		t.Fatalf("%s: object id %q, want %q", typ, id, objectID)
	}
	return ev
}

func count(evs []event, typ string) int {
	n := 0
	for _, ev := range evs {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

func summary(evs []event) string {
	s := "["
	for i, ev := range evs {
		if i > 0 {
			s += " "
		}
		s += ev.Type + ":" + ev.ObjectID
	}
	return s + "]"
}

func field(t *testing.T, ev event, name string, want any) {
	t.Helper()
	if got := ev.Object[name]; got != want {
		t.Fatalf("%s %s: object.%s = %#v, want %#v (object %v)", ev.Type, ev.ObjectID, name, got, want, ev.Object)
	}
}

func TestLicenseAndBackupEvents(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		defer watchDeliveries(t, e)()
		a := e.Register("events-a")
		b := e.Register("events-b")
		lic := e.AddLicense(a.Token, "198.51.100.20", "CLOUDLINUX_OS", "web1.example")

		evs := eventsOf(t, e, a.Token, events.LicenseAdded)
		if len(evs) != 1 {
			t.Fatalf("one add: want 1 license.added, got %s", summary(evs))
		}
		added := only(t, evs, events.LicenseAdded, lic)
		field(t, added, "ip", "198.51.100.20")
		field(t, added, "hostname", "web1.example")
		field(t, added, "type", "CLOUDLINUX_OS")
		field(t, added, "status", "NEVER_CHECKED_IN")
		field(t, added, "resellerID", a.ID)
		field(t, added, "createdAt", "2026-10-01T00:00:00Z")
		field(t, added, "lastCheckIn", nil)
		field(t, added, "removedAt", nil)
		if added.CreatedAt != "2026-10-01T00:00:00Z" {
			t.Fatalf("the event's time is the test clock's: got %s", added.CreatedAt)
		}

		// A refused add (the address holds a CloudLinux license already)
		// writes nothing, for either reseller.
		e.Expect("CONFLICT", "", b.Token, `mutation { addIPLicense(input: {ip: "198.51.100.20", type: CLOUDLINUX_SOLO}) { license { id } } }`, nil)
		if n := len(eventsOf(t, e, e.OperatorToken, events.LicenseAdded)); n != 1 {
			t.Fatalf("a refused add wrote an event: %d license.added", n)
		}

		var act struct {
			ActivateBackup struct{ Backup struct{ ID string } }
		}
		e.Query(a.Token, `mutation($id: ID!) { activateBackup(input: {licenseID: $id, sizeGB: 10, datacenter: "us-east"}) { backup { id } } }`,
			map[string]any{"id": lic}, &act)
		backup := act.ActivateBackup.Backup.ID
		activated := only(t, eventsOf(t, e, a.Token), events.BackupActivated, backup)
		field(t, activated, "licenseID", lic)
		field(t, activated, "sizeGB", float64(10))
		field(t, activated, "monthlyPrice", "1.00")
		if dc, _ := activated.Object["datacenter"].(map[string]any); dc["code"] != "us-east" {
			t.Fatalf("backup.activated: datacenter %v", activated.Object["datacenter"])
		}
		e.Query(a.Token, `mutation($id: ID!) { resizeBackup(input: {licenseID: $id, sizeGB: 25}) { backup { id } } }`, map[string]any{"id": lic}, nil)
		resized := only(t, eventsOf(t, e, a.Token), events.BackupResized, backup)
		field(t, resized, "sizeGB", float64(25))
		e.Query(a.Token, `mutation($id: ID!) { resizeBackup(input: {licenseID: $id, sizeGB: 25}) { backup { id } } }`, map[string]any{"id": lic}, nil)
		only(t, eventsOf(t, e, a.Token), events.BackupResized, backup) // the same size again changes nothing
		e.Query(a.Token, `mutation($id: ID!) { deactivateBackup(licenseID: $id) { license { id } } }`, map[string]any{"id": lic}, nil)
		deactivated := only(t, eventsOf(t, e, a.Token), events.BackupDeactivated, backup)
		if deactivated.Object["removedAt"] == nil {
			t.Fatalf("backup.deactivated without removedAt: %v", deactivated.Object)
		}

		// Removing a license with a backup removes both: one event each.
		e.Query(a.Token, `mutation($id: ID!) { activateBackup(input: {licenseID: $id, sizeGB: 2, datacenter: "us-east"}) { backup { id } } }`,
			map[string]any{"id": lic}, &act)
		second := act.ActivateBackup.Backup.ID
		other := e.AddLicense(a.Token, "198.51.100.21", "KERNELCARE", "")
		e.Query(a.Token, `mutation($ids: [ID!]!) { removeIPLicenses(ids: $ids) { removedIDs } }`, map[string]any{"ids": []string{lic, other}}, nil)
		evs = eventsOf(t, e, a.Token)
		removed := only(t, evs, events.LicenseRemoved, lic)
		field(t, removed, "ip", "198.51.100.20")
		if removed.Object["removedAt"] == nil {
			t.Fatalf("license.removed without removedAt: %v", removed.Object)
		}
		only(t, evs, events.LicenseRemoved, other)
		only(t, evs, events.BackupDeactivated, second)
		// A refused removal (already removed: NOT_FOUND) writes nothing.
		e.Expect("NOT_FOUND", "", a.Token, `mutation($ids: [ID!]!) { removeIPLicenses(ids: $ids) { removedIDs } }`, map[string]any{"ids": []string{other}})
		if n := count(eventsOf(t, e, a.Token), events.LicenseRemoved); n != 2 {
			t.Fatalf("want 2 license.removed, got %d", n)
		}

		// An import writes one license.added per license.
		var imp struct {
			ImportIPLicenses struct{ Licenses []struct{ ID string } }
		}
		e.Query(e.OperatorToken, `mutation($r: ID!) { importIPLicenses(input: {resellerID: $r, licenses: [
			{ip: "198.51.100.30", type: CLOUDLINUX_OS, addedAt: "2026-09-15T00:00:00Z"},
			{ip: "198.51.100.31", type: KERNELCARE, addedAt: "2026-09-20T00:00:00Z"}]}) { licenses { id } } }`,
			map[string]any{"r": b.ID}, &imp)
		evs = eventsOf(t, e, b.Token)
		for _, l := range imp.ImportIPLicenses.Licenses {
			ev := only(t, evs, events.LicenseAdded, l.ID)
			field(t, ev, "resellerID", b.ID)
		}
		field(t, only(t, evs, events.LicenseAdded, imp.ImportIPLicenses.Licenses[0].ID), "createdAt", "2026-09-15T00:00:00Z")

		// Tenant isolation: each reseller reads its own events only; the
		// operator reads them all.
		for _, ev := range eventsOf(t, e, b.Token) {
			if ev.Object["resellerID"] != b.ID {
				t.Fatalf("reseller B reads another reseller's event: %s %v", ev.Type, ev.Object)
			}
		}
		for _, ev := range eventsOf(t, e, a.Token) {
			if rid, ok := ev.Object["resellerID"]; ok && rid != a.ID {
				t.Fatalf("reseller A reads another reseller's event: %s %v", ev.Type, ev.Object)
			}
		}
		all := eventsOf(t, e, e.OperatorToken)
		if len(all) != len(eventsOf(t, e, a.Token))+len(eventsOf(t, e, b.Token)) {
			t.Fatalf("the operator reads %d events, A and B %d and %d", len(all), len(eventsOf(t, e, a.Token)), len(eventsOf(t, e, b.Token)))
		}
		only(t, all, events.LicenseAdded, lic)
		only(t, all, events.LicenseAdded, imp.ImportIPLicenses.Licenses[1].ID)
	}, allowPrivate)
}

func TestServerAccountEvents(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		defer watchDeliveries(t, e)()
		a := e.Register("events-sa")
		var created struct {
			CreateServerAccount struct{ ServerAccount struct{ ID string } }
		}
		e.Query(a.Token, `mutation { createServerAccount(input: {login: "acme", firstName: "A", lastName: "B", company: "Acme", email: "ops@acme.example", licenseLimit: 1}) { serverAccount { id } } }`, nil, &created)
		acct := created.CreateServerAccount.ServerAccount.ID
		ev := only(t, eventsOf(t, e, a.Token), events.ServerAccountCreated, acct)
		field(t, ev, "login", "acme")
		field(t, ev, "licenseLimit", float64(1))

		const update = `mutation($id: ID!, $in: UpdateServerAccountInput!) { updateServerAccount(id: $id, input: $in) { serverAccount { id } } }`
		e.Query(a.Token, update, map[string]any{"id": acct, "in": map[string]any{"licenseLimit": 2}}, nil)
		ev = only(t, eventsOf(t, e, a.Token), events.ServerAccountUpdated, acct)
		field(t, ev, "licenseLimit", float64(2))
		// Nothing changed: no event.
		e.Query(a.Token, update, map[string]any{"id": acct, "in": map[string]any{"licenseLimit": 2, "company": "Acme"}}, nil)
		if n := count(eventsOf(t, e, a.Token), events.ServerAccountUpdated); n != 1 {
			t.Fatalf("an update that changed nothing wrote an event: %d server_account.updated", n)
		}

		var key struct {
			CreateActivationKey struct{ Key struct{ Token string } }
		}
		e.Query(a.Token, `mutation($id: ID!) { createActivationKey(serverAccountID: $id) { key { token } } }`, map[string]any{"id": acct}, &key)
		const register = `mutation($k: String!, $ip: String!) { registerServer(input: {activationKey: $k, hostname: "n1", ip: $ip}) { server { id } credential } }`
		var reg struct {
			RegisterServer struct{ Server struct{ ID string } }
		}
		e.Query("", register, map[string]any{"k": key.CreateActivationKey.Key.Token, "ip": "198.51.100.7"}, &reg)
		ev = only(t, eventsOf(t, e, a.Token), events.ServerRegistered, reg.RegisterServer.Server.ID)
		field(t, ev, "ip", "198.51.100.7")
		field(t, ev, "serverAccountID", acct)
		if _, leaked := ev.Object["credential"]; leaked {
			t.Fatalf("server.registered carries the credential: %v", ev.Object)
		}

		// Refused changes write nothing: a limit below the servers
		// registered, a registration past the limit.
		e.Expect("CONFLICT", "", a.Token, update, map[string]any{"id": acct, "in": map[string]any{"licenseLimit": 0}})
		e.Query(a.Token, update, map[string]any{"id": acct, "in": map[string]any{"licenseLimit": 1}}, nil)
		e.Expect("LIMIT_REACHED", "", "", register, map[string]any{"k": key.CreateActivationKey.Key.Token, "ip": "198.51.100.8"})
		evs := eventsOf(t, e, a.Token)
		if n := count(evs, events.ServerAccountUpdated); n != 2 {
			t.Fatalf("want 2 server_account.updated (2, then 1), got %d: %s", n, summary(evs))
		}
		if n := count(evs, events.ServerRegistered); n != 1 {
			t.Fatalf("want 1 server.registered, got %d", n)
		}

		e.Query(a.Token, `mutation($id: ID!) { removeServerAccount(id: $id) { removedID } }`, map[string]any{"id": acct}, nil)
		ev = only(t, eventsOf(t, e, a.Token), events.ServerAccountRemoved, acct)
		if ev.Object["removedAt"] == nil {
			t.Fatalf("server_account.removed without removedAt: %v", ev.Object)
		}
		e.Expect("NOT_FOUND", "", a.Token, `mutation($id: ID!) { removeServerAccount(id: $id) { removedID } }`, map[string]any{"id": acct})
		if n := count(eventsOf(t, e, a.Token), events.ServerAccountRemoved); n != 1 {
			t.Fatalf("a refused removal wrote an event: %d server_account.removed", n)
		}
	}, allowPrivate)
}

const (
	adjust = `mutation($r: ID!, $amount: Money!, $key: String) {
		adjustBalance(input: {resellerID: $r, amount: $amount, reason: "test", idempotencyKey: $key}) { transaction { id } } }`
	topUp = `mutation($amount: Money!, $key: String) {
		topUp(input: {amount: $amount, idempotencyKey: $key}) { transaction { id } invoice { id } } }`
)

func TestMoneyEvents(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		defer watchDeliveries(t, e)()
		a := e.Register("events-money")
		evs := eventsOf(t, e, a.Token)
		// The registration's deposit: payment.succeeded and its receipt.
		if count(evs, events.PaymentSucceeded) != 1 || count(evs, events.InvoiceCreated) != 1 {
			t.Fatalf("registration: want one payment.succeeded and one invoice.created, got %s", summary(evs))
		}
		for _, ev := range evs {
			switch ev.Type {
			case events.PaymentSucceeded:
				field(t, ev, "purpose", "DEPOSIT")
				field(t, ev, "amount", "250.00")
				field(t, ev, "status", "SUCCEEDED")
			case events.InvoiceCreated:
				field(t, ev, "type", "PAYMENT_RECEIVED")
				field(t, ev, "total", "250.00")
				field(t, ev, "balance", "250.00")
			}
		}

		// A top-up, and its replay with the same key: one payment, one receipt.
		var top struct {
			TopUp struct{ Transaction, Invoice struct{ ID string } }
		}
		vars := map[string]any{"amount": "30.00", "key": "top-1"}
		e.Query(a.Token, topUp, vars, &top)
		e.Query(a.Token, topUp, vars, nil)
		evs = eventsOf(t, e, a.Token)
		receipt := only(t, evs, events.InvoiceCreated, top.TopUp.Invoice.ID)
		field(t, receipt, "total", "30.00")
		if count(evs, events.PaymentSucceeded) != 2 || count(evs, events.InvoiceCreated) != 2 {
			t.Fatalf("a top-up and its replay: want 2 payment.succeeded and 2 invoice.created in all, got %s", summary(evs))
		}

		// balance.low: 280.00 → 120.00 stays above 100.00; → 60.00 falls
		// below (one event); → 40.00 stays below (none); its replay none.
		e.Query(e.OperatorToken, adjust, map[string]any{"r": a.ID, "amount": "-160.00", "key": "adj-1"}, nil)
		if n := count(eventsOf(t, e, a.Token), events.BalanceLow); n != 0 {
			t.Fatalf("120.00 is not low: %d balance.low", n)
		}
		e.Query(e.OperatorToken, adjust, map[string]any{"r": a.ID, "amount": "-60.00", "key": "adj-2"}, nil)
		e.Query(e.OperatorToken, adjust, map[string]any{"r": a.ID, "amount": "-60.00", "key": "adj-2"}, nil)
		e.Query(e.OperatorToken, adjust, map[string]any{"r": a.ID, "amount": "-20.00", "key": "adj-3"}, nil)
		low := only(t, eventsOf(t, e, a.Token), events.BalanceLow, a.ID)
		field(t, low, "balance", "60.00")
		field(t, low, "login", "events-money")
		field(t, low, "status", "ACTIVE")
		if ap, _ := low.Object["autopayment"].(map[string]any); ap["mode"] != "AUTO_REPAY" {
			t.Fatalf("balance.low: autopayment %v", low.Object["autopayment"])
		}
		// Back above and below again: a new fall, a new event.
		e.Query(a.Token, topUp, map[string]any{"amount": "100.00", "key": "top-2"}, nil)
		e.Query(e.OperatorToken, adjust, map[string]any{"r": a.ID, "amount": "-50.00", "key": "adj-4"}, nil)
		if n := count(eventsOf(t, e, a.Token), events.BalanceLow); n != 2 {
			t.Fatalf("a second fall below 100.00: want 2 balance.low, got %d", n)
		}

		// A debit below zero: AUTO_REPAY charges the saved card.
		before := count(eventsOf(t, e, a.Token), events.PaymentSucceeded)
		e.Query(e.OperatorToken, adjust, map[string]any{"r": a.ID, "amount": "-100.00", "key": "adj-5"}, nil)
		evs = eventsOf(t, e, a.Token, events.PaymentSucceeded)
		if len(evs) != before+1 {
			t.Fatalf("an autopayment: want %d payment.succeeded, got %d", before+1, len(evs))
		}
		field(t, evs[len(evs)-1], "purpose", "AUTOPAYMENT")

		// A refund of the first top-up: refund.created and the REFUND invoice.
		var ref struct {
			Refund struct{ Transaction, Invoice struct{ ID string } }
		}
		e.Query(e.OperatorToken, `mutation($txn: ID!) { refund(input: {transactionID: $txn, amount: "10.00", reason: "goodwill", idempotencyKey: "ref-1"}) {
			transaction { id } invoice { id } } }`, map[string]any{"txn": top.TopUp.Transaction.ID}, &ref)
		evs = eventsOf(t, e, a.Token)
		refunds := eventsOf(t, e, a.Token, events.RefundCreated)
		if len(refunds) != 1 {
			t.Fatalf("want one refund.created, got %s", summary(evs))
		}
		field(t, refunds[0], "amount", "10.00")
		field(t, refunds[0], "transactionID", ref.Refund.Transaction.ID)
		field(t, refunds[0], "invoiceID", ref.Refund.Invoice.ID)
		field(t, refunds[0], "refundOfID", top.TopUp.Transaction.ID)
		field(t, only(t, evs, events.InvoiceCreated, ref.Refund.Invoice.ID), "type", "REFUND")
		// A refund above what is left of the payment is refused: nothing.
		e.Expect("CONFLICT", "", e.OperatorToken, `mutation($txn: ID!) { refund(input: {transactionID: $txn, amount: "25.00", reason: "too much"}) {
			transaction { id } } }`, map[string]any{"txn": top.TopUp.Transaction.ID})
		if n := len(eventsOf(t, e, a.Token, events.RefundCreated)); n != 1 {
			t.Fatalf("a refused refund wrote an event: %d refund.created", n)
		}

		// The monthly bill.
		reader := e.APIToken(a.Token, "READ") // sessions expire as the clock moves
		e.AddLicense(a.Token, "198.51.100.40", "CLOUDLINUX_OS", "")
		e.Query(e.OperatorToken, `mutation { advanceClock(to: "2026-11-01T00:00:10Z") { now } }`, nil, nil)
		e.Query(e.OperatorToken, `mutation { runBilling(period: "2026-10") { invoices { id } } }`, nil, nil)
		var bills []event
		for _, ev := range eventsOf(t, e, reader, events.InvoiceCreated) {
			if ev.Object["type"] == "INVOICE" {
				bills = append(bills, ev)
			}
		}
		if len(bills) != 1 {
			t.Fatalf("billing October (by the scheduler and runBilling): want one INVOICE invoice.created, got %d", len(bills))
		}
		field(t, bills[0], "periodStart", "2026-10-01T00:00:00Z")
		field(t, bills[0], "periodEnd", "2026-11-01T00:00:00Z")
		field(t, bills[0], "total", "31.00")
	}, allowPrivate)
}

func TestDeclinedAutopaymentEvents(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		defer watchDeliveries(t, e)()
		a := e.Register("events-declined")
		e.Query(a.Token, `mutation { addPaymentMethod(input: {gatewayToken: "tok_chargeDeclined", makeDefault: true}) { paymentMethod { id } } }`, nil, nil)
		e.Query(e.OperatorToken, adjust, map[string]any{"r": a.ID, "amount": "-300.00", "key": "debit"}, nil)
		evs := eventsOf(t, e, a.Token)
		failed := eventsOf(t, e, a.Token, events.PaymentFailed)
		if len(failed) != 1 {
			t.Fatalf("a declined autopayment: want one payment.failed, got %s", summary(evs))
		}
		field(t, failed[0], "purpose", "AUTOPAYMENT")
		field(t, failed[0], "status", "DECLINED")
		field(t, failed[0], "amount", "50.00")
		if failed[0].Object["declineCode"] == "" {
			t.Fatalf("payment.failed without its decline code: %v", failed[0].Object)
		}
		due := only(t, evs, events.ResellerPastDue, a.ID)
		field(t, due, "status", "PAST_DUE")
		field(t, due, "balance", "-50.00")

		// Still past due after a credit that leaves the balance negative:
		// no second reseller.past_due.
		e.Query(e.OperatorToken, adjust, map[string]any{"r": a.ID, "amount": "10.00", "key": "credit"}, nil)
		evs = eventsOf(t, e, a.Token)
		if n := count(evs, events.ResellerPastDue); n != 1 {
			t.Fatalf("a reseller that stays past due: want 1 reseller.past_due, got %d: %s", n, summary(evs))
		}
		// Another debit makes a new autopayment due: while it is pending
		// the reseller counts as paid up (ACTIVE), and its decline makes it
		// PAST_DUE again: a second payment.failed and reseller.past_due.
		e.Query(e.OperatorToken, adjust, map[string]any{"r": a.ID, "amount": "-5.00", "key": "debit-2"}, nil)
		evs = eventsOf(t, e, a.Token)
		if count(evs, events.PaymentFailed) != 2 || count(evs, events.ResellerPastDue) != 2 {
			t.Fatalf("a second declined autopayment: want 2 payment.failed and 2 reseller.past_due, got %s", summary(evs))
		}
		// A refused add while past due writes no license.added.
		e.Expect("PAYMENT_REQUIRED", "", a.Token, `mutation { addIPLicense(input: {ip: "198.51.100.50", type: KERNELCARE}) { license { id } } }`, nil)
		if n := count(eventsOf(t, e, a.Token), events.LicenseAdded); n != 0 {
			t.Fatalf("a refused add wrote %d license.added", n)
		}
	}, allowPrivate)
}

func TestStaleSweep(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		defer watchDeliveries(t, e)()
		a := e.Register("events-stale")
		reader := e.APIToken(a.Token, "READ") // sessions expire as the clock moves
		lic := e.AddLicense(a.Token, "198.51.100.60", "CLOUDLINUX_OS", "quiet.example")
		never := e.AddLicense(a.Token, "198.51.100.61", "CLOUDLINUX_OS", "")
		gone := e.AddLicense(a.Token, "198.51.100.62", "CLOUDLINUX_OS", "")
		for _, ip := range []string{"198.51.100.60", "198.51.100.62"} {
			if r := e.CheckInFrom(ip, ""); len(r.Errors) > 0 {
				t.Fatalf("check-in: %s", r.Raw)
			}
		}
		e.Query(a.Token, `mutation($ids: [ID!]!) { removeIPLicenses(ids: $ids) { removedIDs } }`, map[string]any{"ids": []string{gone}}, nil)
		const window = 72 * time.Hour

		sweep := func() int {
			t.Helper()
			n, err := events.SweepStale(e.Ctx(), e.DB.Client, window)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		// Not silent long enough yet.
		e.Query(e.OperatorToken, `mutation { advanceClock(to: "2026-10-04T00:00:00Z") { now } }`, nil, nil)
		if n := sweep(); n != 0 {
			t.Fatalf("72h exactly is not stale yet: %d events", n)
		}
		e.Query(e.OperatorToken, `mutation { advanceClock(to: "2026-10-04T01:00:00Z") { now } }`, nil, nil)

		// Four instances sweeping at once, then once more: one event.
		var wg sync.WaitGroup
		written := make([]int, 4)
		errs := make([]error, 4)
		for i := range written {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				written[i], errs[i] = events.SweepStale(e.Ctx(), e.DB.Client, window)
			}(i)
		}
		wg.Wait()
		total := 0
		for i := range written {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			total += written[i]
		}
		total += sweep()
		// The server's own sweep, woken by advanceClock, may have won the
		// claim: the log, not the sweeps' counts, must hold exactly one.
		if total > 1 {
			t.Fatalf("concurrent sweeps wrote %d events, want at most 1", total)
		}
		stale := waitEvents(t, e, reader, events.LicenseStale, 1)
		if len(stale) != 1 {
			t.Fatalf("want one license.stale, got %s", summary(stale))
		}
		ev := only(t, stale, events.LicenseStale, lic)
		field(t, ev, "status", "STALE")
		field(t, ev, "ip", "198.51.100.60")
		field(t, ev, "lastCheckIn", "2026-10-01T00:00:00Z")
		if ev.CreatedAt != "2026-10-04T01:00:00Z" {
			t.Fatalf("license.stale at %s, want the sweep's time by the test clock", ev.CreatedAt)
		}
		_ = never // never checked in: never stale

		// It checks in again, falls silent again: a new event.
		if r := e.CheckInFrom("198.51.100.60", ""); len(r.Errors) > 0 {
			t.Fatalf("check-in: %s", r.Raw)
		}
		if n := sweep(); n != 0 {
			t.Fatalf("a license that just checked in is not stale: %d events", n)
		}
		e.Query(e.OperatorToken, `mutation { advanceClock(to: "2026-10-08T00:00:00Z") { now } }`, nil, nil)
		if n := sweep(); n > 1 { // the server's sweep may have written it
			t.Fatalf("a second silence: want 1 event, got %d", n)
		}
		stale = waitEvents(t, e, reader, events.LicenseStale, 2)
		if len(stale) != 2 || stale[1].Object["lastCheckIn"] != "2026-10-04T01:00:00Z" {
			t.Fatalf("want a second license.stale for the second silence, got %v", stale)
		}
	}, allowPrivate)
}

// waitEvents reads the events of a type until there are at least n or a few
// seconds passed: the server's own sweep, woken by advanceClock, may hold
// the claim a moment after the test's sweep skipped the row it locked.
func waitEvents(t *testing.T, e *apitest.Env, token, typ string, n int) []event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs := eventsOf(t, e, token, typ)
		if len(evs) >= n || time.Now().After(deadline) {
			return evs
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// watchDeliveries subscribes an operator's global endpoint to every event
// type; the function it returns checks that every event of the log was
// delivered to it exactly once, with a valid signature and the log's body
// (issue 11: every event type delivered once, signed).
func watchDeliveries(t *testing.T, e *apitest.Env) func() {
	t.Helper()
	rcv := newReceiver(t, nil)
	ep := create(t, e, e.OperatorToken, rcv.URL(), "*")
	return func() {
		if t.Failed() {
			return
		}
		t.Helper()
		// Background work (the payment reconciler) may still be writing
		// events: wait until the log and the deliveries both stand still.
		logged := eventsOf(t, e, e.OperatorToken)
		for {
			rcv.wait(len(logged))
			time.Sleep(300 * time.Millisecond)
			again := eventsOf(t, e, e.OperatorToken)
			if len(again) == len(logged) && len(rcv.requests()) == len(logged) {
				break
			}
			if len(again) == len(logged) {
				rcv.quiet(len(logged), 0) // more deliveries than events: fails
			}
			logged = again
		}
		got := rcv.requests()
		byID := map[string]received{}
		for _, g := range got {
			if !events.Verify(g.Signature, g.Body, ep.Secret, time.Now(), 5*time.Minute) {
				t.Fatalf("a delivery's signature does not verify: %s", g.Body)
			}
			id := g.event(t).ID
			if _, dup := byID[id]; dup {
				t.Fatalf("event %s delivered twice", id)
			}
			byID[id] = g
		}
		for _, ev := range logged {
			g, ok := byID[ev.ID]
			if !ok {
				t.Fatalf("%s %s was never delivered", ev.Type, ev.ID)
			}
			if d := g.event(t); d.Type != ev.Type || d.ObjectID != ev.ObjectID || d.CreatedAt != ev.CreatedAt {
				t.Fatalf("delivered %s, logged %+v", g.Body, ev)
			}
		}
	}
}

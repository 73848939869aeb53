package billing_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/payments"
	"clnd/internal/pgtest"
	"clnd/internal/server"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const runBilling = `mutation($p: String!) { runBilling(period: $p) { invoices { number type total periodStart periodEnd
	lines { title quantity unitPrice subtotal items { description amount periodStart periodEnd license { ip } } } } } }`

type invoice struct {
	Number, Type, Total string
	Lines               []struct {
		Title, UnitPrice, Subtotal string
		Quantity                   int
		Items                      []struct {
			Description, Amount    string
			PeriodStart, PeriodEnd time.Time
			License                *struct{ IP string }
		}
	}
}

func advance(t *testing.T, e *apitest.Env, to time.Time) {
	t.Helper()
	e.Query(e.OperatorToken, `mutation($to: Time!) { advanceClock(to: $to) { now } }`, map[string]any{"to": to}, nil)
}

// API.md's example: CLOUDLINUX_OS at 31.00, added 2026-10-11T00:00:00Z and
// never removed, is charged 21.00 for October.
func TestRunBillingChargesTheProratedMonth(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")                    // 250.00
		a.Token = e.APIToken(a.Token, "READ_WRITE") // outlives the session as the clock moves
		advance(t, e, time.Date(2026, 10, 11, 0, 0, 0, 0, time.UTC))
		e.AddLicense(a.Token, "203.0.113.10", "CLOUDLINUX_OS", "")

		e.Expect("BAD_USER_INPUT", "period", e.OperatorToken, runBilling, map[string]any{"p": "2026-10"}) // not ended
		e.Expect("BAD_USER_INPUT", "period", e.OperatorToken, runBilling, map[string]any{"p": "October"})
		e.Expect("FORBIDDEN", "", a.Token, runBilling, map[string]any{"p": "2026-09"})

		advance(t, e, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
		var out struct{ RunBilling struct{ Invoices []invoice } }
		e.Query(e.OperatorToken, runBilling, map[string]any{"p": "2026-10"}, &out)
		invs := out.RunBilling.Invoices
		if len(invs) != 1 || invs[0].Total != "21.00" || invs[0].Type != "INVOICE" || len(invs[0].Lines) != 1 {
			t.Fatalf("invoices %+v", invs)
		}
		line := invs[0].Lines[0]
		item := line.Items[0]
		if line.Title != "CloudLinux OS" || line.Quantity != 1 || line.UnitPrice != "31.00" || line.Subtotal != "21.00" ||
			item.Amount != "21.00" || item.License == nil || item.License.IP != "203.0.113.10" ||
			!item.PeriodStart.Equal(time.Date(2026, 10, 11, 0, 0, 0, 0, time.UTC)) || !item.PeriodEnd.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("line %+v", line)
		}
		// Running it again bills nothing twice.
		e.Query(e.OperatorToken, runBilling, map[string]any{"p": "2026-10"}, &out)
		if len(out.RunBilling.Invoices) != 0 {
			t.Fatalf("a second run invoiced %+v", out.RunBilling.Invoices)
		}
		var me struct {
			Viewer struct {
				Reseller struct {
					Balance  string
					Invoices struct{ TotalCount int }
				}
			}
		}
		e.Query(a.Token, `{ viewer { reseller { balance invoices(where: {type: INVOICE}) { totalCount } } } }`, nil, &me)
		if me.Viewer.Reseller.Balance != "229.00" || me.Viewer.Reseller.Invoices.TotalCount != 1 {
			t.Fatalf("after billing: %+v", me.Viewer.Reseller)
		}
	}, apitest.WithConfig(func(c *server.Config) { c.ManualBilling = true }))
}

// The scheduler bills a month as soon as the test clock passes its end, and
// the charge triggers autopayment.
func TestSchedulerBillsEndedMonths(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice") // 250.00, AUTO_REPAY
		a.Token = e.APIToken(a.Token, "READ_WRITE")
		for i := 0; i < 9; i++ {
			e.AddLicense(a.Token, "198.51.100."+string(rune('1'+i)), "CLOUDLINUX_OS", "") // 9 × 31.00 = 279.00 a month
		}
		advance(t, e, time.Date(2026, 11, 1, 0, 0, 1, 0, time.UTC))
		deadline := time.Now().Add(15 * time.Second)
		var me struct {
			Viewer struct {
				Reseller struct {
					Balance, Status string
					Invoices        struct {
						Edges []struct{ Node struct{ Type, Total string } }
					}
				}
			}
		}
		for {
			e.Query(a.Token, `{ viewer { reseller { balance status invoices(where: {type: INVOICE}) { edges { node { type total } } } } } }`, nil, &me)
			// The autopayment commits just after the invoice: wait for both.
			if len(me.Viewer.Reseller.Invoices.Edges) > 0 && me.Viewer.Reseller.Balance != "250.00" && me.Viewer.Reseller.Balance != "-29.00" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("October was not billed after the clock passed November 1st")
			}
			time.Sleep(50 * time.Millisecond)
		}
		// 250.00 − 279.00 = −29.00, repaid by autopayment in the same transaction.
		if me.Viewer.Reseller.Invoices.Edges[0].Node.Total != "279.00" || me.Viewer.Reseller.Balance != "0.00" || me.Viewer.Reseller.Status != "ACTIVE" {
			t.Fatalf("after the scheduled run: %+v", me.Viewer.Reseller)
		}
	})
}

// flakyGateway is the sandbox gateway whose charges fail (not decline)
// while down is set, like a provider answering 503.
type flakyGateway struct {
	payments.Sandbox
	down atomic.Bool
}

func (g *flakyGateway) Charge(ctx context.Context, r payments.ChargeRequest) (payments.Charge, error) {
	if g.down.Load() {
		return payments.Charge{}, errors.New("503 Service Unavailable")
	}
	return g.Sandbox.Charge(ctx, r)
}

// A gateway failure during the autopayment after a monthly charge leaves
// the invoice in place and the autopayment PENDING (its outcome unknown),
// counted as paid so the reseller is not past due for the gateway's
// outage; once the gateway answers again, settling charges it once.
func TestGatewayFailureDuringAutopaymentKeepsTheInvoice(t *testing.T) {
	g := &flakyGateway{}
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		g.down.Store(false)
		a := e.Register("alice") // 250.00
		a.Token = e.APIToken(a.Token, "READ_WRITE")
		for i := 0; i < 9; i++ {
			e.AddLicense(a.Token, "198.51.100."+string(rune('1'+i)), "CLOUDLINUX_OS", "") // 279.00 a month
		}
		g.down.Store(true)
		advance(t, e, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
		var out struct{ RunBilling struct{ Invoices []invoice } }
		e.Query(e.OperatorToken, runBilling, map[string]any{"p": "2026-10"}, &out)
		if len(out.RunBilling.Invoices) != 1 || out.RunBilling.Invoices[0].Total != "279.00" {
			t.Fatalf("invoices %+v", out.RunBilling.Invoices)
		}
		var me struct {
			Viewer struct {
				Reseller struct {
					Balance, Status string
					PaymentAttempts struct {
						Edges []struct {
							Node struct{ Status, Reason string }
						}
					}
				}
			}
		}
		read := func() {
			e.Query(a.Token, `{ viewer { reseller { balance status paymentAttempts(last: 1) { edges { node { status reason } } } } } }`, nil, &me)
		}
		read()
		r := me.Viewer.Reseller
		if r.Balance != "-29.00" || r.Status != "ACTIVE" || len(r.PaymentAttempts.Edges) != 1 ||
			r.PaymentAttempts.Edges[0].Node.Status != "PENDING" || !strings.Contains(r.PaymentAttempts.Edges[0].Node.Reason, "did not answer") {
			t.Fatalf("after the failed autopayment: %+v", r)
		}
		g.down.Store(false)
		var settled struct {
			SettlePaymentAttempts struct{ Settled, Pending int }
		}
		e.Query(e.OperatorToken, `mutation { settlePaymentAttempts { settled pending } }`, nil, &settled)
		read()
		r = me.Viewer.Reseller
		if settled.SettlePaymentAttempts.Settled != 1 || r.Balance != "0.00" || r.Status != "ACTIVE" || r.PaymentAttempts.Edges[0].Node.Status != "SUCCEEDED" {
			t.Fatalf("after settling: %+v %+v", settled, r)
		}
	}, apitest.WithConfig(func(c *server.Config) { c.ManualBilling = true; c.Gateway = g }))
}

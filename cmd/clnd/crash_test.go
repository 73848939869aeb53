package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"clnd/ent"
	"clnd/ent/invoice"
	"clnd/ent/paymentattempt"
	"clnd/ent/reseller"
	"clnd/ent/sandboxpayment"
	"clnd/ent/transaction"
	"clnd/internal/apitest"
	"clnd/internal/money"
	"clnd/internal/store"
	"clnd/internal/viewer"
)

// TestCrash is issue 9's proof, with real processes killed by SIGKILL on
// SQLite and PostgreSQL: money the provider took before clnd died is
// recorded exactly once after a restart, and an autopayment that a
// committed invoice made due is not lost when `clnd bill` dies before
// charging it. The binary is built once for all of them.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills processes")
	}
	bin := buildClnd(t)
	for _, c := range []struct {
		name     string
		scenario func(t *testing.T, bin, url string)
	}{
		{"TopUpChargedNotRecorded", crashTopUp},
		{"TopUpRetriedConcurrentlyAfterRestart", crashTopUpRetried},
		{"DepositChargedNotRecorded", crashDeposit},
		{"InvoiceCommittedAutopaymentNot", crashBillAutopayment},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, backend := range apitest.Backends {
				t.Run(backend, func(t *testing.T) {
					url := databaseFor(t, bin, backend)
					c.scenario(t, bin, url)
				})
			}
		})
	}
}

// crashTopUp: clnd is killed after the sandbox charged a top-up and before
// the charge was recorded; restarted, its reconciler records it once.
func crashTopUp(t *testing.T, bin, url string) {
	srv := startServe(t, bin, url, "after-gateway:TOP_UP")
	token := registerWith(t, srv.addr, "topper", "250.00", "")

	answered := make(chan error, 1)
	go func() {
		_, errs, err := gql(srv.addr, token, `mutation { topUp(input: {amount: "75.00", idempotencyKey: "crash-topup"}) { transaction { id } } }`, nil)
		if err == nil && len(errs) > 0 {
			err = fmt.Errorf("%v", errs)
		}
		answered <- err
	}()
	srv.waitFor(t, "failpoint after-gateway reached")
	srv.kill(t)
	if err := <-answered; err == nil {
		t.Fatal("the top-up answered although clnd was killed before recording it")
	}

	// Dead: the provider took the money, clnd recorded nothing.
	var attemptID string
	withDB(t, url, func(ctx context.Context, db *ent.Client) {
		r := resellerByLogin(t, ctx, db, "topper")
		a := onlyAttempt(t, ctx, db, r.ID, paymentattempt.PurposeTOP_UP)
		attemptID = a.ID
		if a.Status != paymentattempt.StatusPENDING || a.TransactionID != nil {
			t.Fatalf("after the kill the top-up attempt is %s (transaction %v), want PENDING with none", a.Status, a.TransactionID)
		}
		charge, err := db.SandboxPayment.Get(ctx, a.ID)
		if err != nil {
			t.Fatalf("the sandbox has no charge under the attempt's key %s: %v", a.ID, err)
		}
		if charge.Kind != sandboxpayment.KindCHARGE || charge.Amount != money.MustParse("75.00") || charge.Decline != "" {
			t.Fatalf("the sandbox charge is %+v", charge)
		}
		if n := countTx(t, ctx, db, r.ID, transaction.KindTOP_UP); n != 0 {
			t.Fatalf("%d TOP_UP transactions before the restart", n)
		}
		if r.Balance != money.MustParse("250.00") {
			t.Fatalf("balance before the restart %s", r.Balance)
		}
		waitPastNextTry(t, a)
	})

	// Restarted without the failpoint: the reconciler settles it at start-up.
	srv = startServe(t, bin, url, "")
	deadline := time.Now().Add(60 * time.Second)
	for !hasTxKind(t, srv.addr, token, "TOP_UP") {
		if time.Now().After(deadline) {
			t.Fatal("the reconciler did not record the top-up within 60 s of the restart")
		}
		time.Sleep(100 * time.Millisecond)
	}
	var txnID string
	check := func() {
		withDB(t, url, func(ctx context.Context, db *ent.Client) {
			r := resellerByLogin(t, ctx, db, "topper")
			a := onlyAttempt(t, ctx, db, r.ID, paymentattempt.PurposeTOP_UP)
			if a.ID != attemptID || a.Status != paymentattempt.StatusSUCCEEDED || a.TransactionID == nil {
				t.Fatalf("the top-up attempt is %s %s (transaction %v), want %s SUCCEEDED with one", a.ID, a.Status, a.TransactionID, attemptID)
			}
			if txnID != "" && *a.TransactionID != txnID {
				t.Fatalf("the attempt's transaction changed from %s to %s", txnID, *a.TransactionID)
			}
			txnID = *a.TransactionID
			if n := countTx(t, ctx, db, r.ID, transaction.KindTOP_UP); n != 1 {
				t.Fatalf("%d TOP_UP transactions, want 1", n)
			}
			assertLedger(t, ctx, db, r, "325.00")
			assertSandboxCharges(t, ctx, db, 2, "325.00") // the deposit and the top-up, once each
		})
	}
	check()

	// The client's retry with its key answers the recorded top-up and moves nothing.
	data := mustGQL(t, srv.addr, token, `mutation { topUp(input: {amount: "75.00", idempotencyKey: "crash-topup"}) { transaction { id amount } reseller { balance } } }`, nil)
	var again struct {
		TopUp struct {
			Transaction struct{ ID, Amount string }
			Reseller    struct{ Balance string }
		}
	}
	_ = json.Unmarshal(data, &again)
	if again.TopUp.Transaction.ID != txnID || again.TopUp.Transaction.Amount != "75.00" || again.TopUp.Reseller.Balance != "325.00" {
		t.Fatalf("the retried top-up answered %s, want transaction %s and balance 325.00", data, txnID)
	}
	check()
}

// crashTopUpRetried: as crashTopUp, but with a grace of an hour the
// reconciler leaves the attempt alone after the restart, and the client's
// retries race each other and the operator's settlePaymentAttempts to
// settle it: the conditional update lets exactly one of them record it.
func crashTopUpRetried(t *testing.T, bin, url string) {
	operator := operatorToken(t, bin, url)
	srv := startServe(t, bin, url, "after-gateway:TOP_UP", "--payment-grace", "1h")
	token := registerWith(t, srv.addr, "retrier", "250.00", "")
	topUp := `mutation { topUp(input: {amount: "75.00", idempotencyKey: "crash-retried"}) { transaction { id } } }`
	answered := make(chan error, 1)
	go func() {
		_, _, err := gql(srv.addr, token, topUp, nil)
		answered <- err
	}()
	srv.waitFor(t, "failpoint after-gateway reached")
	srv.kill(t)
	<-answered

	srv = startServe(t, bin, url, "", "--payment-grace", "1h")
	start := make(chan struct{})
	var wg sync.WaitGroup
	ids := make([]string, 24)
	errs := make([]error, len(ids)+2)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			data, gerrs, err := gql(srv.addr, token, topUp, nil)
			if err == nil && len(gerrs) > 0 {
				err = fmt.Errorf("%+v", gerrs)
			}
			var out struct {
				TopUp struct{ Transaction struct{ ID string } }
			}
			_ = json.Unmarshal(data, &out)
			ids[i], errs[i] = out.TopUp.Transaction.ID, err
		}()
	}
	for i := len(ids); i < len(errs); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, gerrs, err := gql(srv.addr, operator, `mutation { settlePaymentAttempts { settled pending } }`, nil)
			if err == nil && len(gerrs) > 0 {
				err = fmt.Errorf("%+v", gerrs)
			}
			errs[i] = err
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d after the restart: %v", i, err)
		}
	}
	withDB(t, url, func(ctx context.Context, db *ent.Client) {
		r := resellerByLogin(t, ctx, db, "retrier")
		a := onlyAttempt(t, ctx, db, r.ID, paymentattempt.PurposeTOP_UP)
		if a.Status != paymentattempt.StatusSUCCEEDED || a.TransactionID == nil {
			t.Fatalf("the top-up attempt is %s", a.Status)
		}
		for i, id := range ids {
			if id != *a.TransactionID {
				t.Errorf("retry %d answered transaction %q, want %s", i, id, *a.TransactionID)
			}
		}
		if n := countTx(t, ctx, db, r.ID, transaction.KindTOP_UP); n != 1 {
			t.Fatalf("%d TOP_UP transactions, want 1", n)
		}
		assertLedger(t, ctx, db, r, "325.00")
		assertSandboxCharges(t, ctx, db, 2, "325.00")
	})
}

// crashDeposit: clnd is killed after the sandbox charged a registration's
// deposit and before it was recorded; restarted, the registration completes
// with the deposit credited once.
func crashDeposit(t *testing.T, bin, url string) {
	srv := startServe(t, bin, url, "after-gateway:DEPOSIT")
	answered := make(chan error, 1)
	go func() {
		_, errs, err := gql(srv.addr, "", registerMutation("depositor", "250.00", "crash-register"), nil)
		if err == nil && len(errs) > 0 {
			err = fmt.Errorf("%v", errs)
		}
		answered <- err
	}()
	srv.waitFor(t, "failpoint after-gateway reached")
	srv.kill(t)
	if err := <-answered; err == nil {
		t.Fatal("the registration answered although clnd was killed before recording its deposit")
	}

	var attemptID string
	withDB(t, url, func(ctx context.Context, db *ent.Client) {
		r := resellerByLogin(t, ctx, db, "depositor")
		a := onlyAttempt(t, ctx, db, r.ID, paymentattempt.PurposeDEPOSIT)
		attemptID = a.ID
		if a.Status != paymentattempt.StatusPENDING {
			t.Fatalf("after the kill the deposit attempt is %s, want PENDING", a.Status)
		}
		if _, err := db.SandboxPayment.Get(ctx, a.ID); err != nil {
			t.Fatalf("the sandbox has no charge under the deposit's key: %v", err)
		}
		if n := countTx(t, ctx, db, r.ID, transaction.KindDEPOSIT); n != 0 || r.Balance != 0 {
			t.Fatalf("before the restart: %d DEPOSIT transactions, balance %s", n, r.Balance)
		}
		waitPastNextTry(t, a)
	})

	srv = startServe(t, bin, url, "")
	deadline := time.Now().Add(60 * time.Second)
	for {
		var status paymentattempt.Status
		withDB(t, url, func(ctx context.Context, db *ent.Client) {
			a, err := db.PaymentAttempt.Get(ctx, attemptID)
			if err != nil {
				t.Fatal(err)
			}
			status = a.Status
		})
		if status == paymentattempt.StatusSUCCEEDED {
			break
		}
		if status != paymentattempt.StatusPENDING || time.Now().After(deadline) {
			t.Fatalf("the deposit attempt is %s %v after the restart, want SUCCEEDED", status, time.Since(deadline.Add(-60*time.Second)).Round(time.Second))
		}
		time.Sleep(100 * time.Millisecond)
	}
	check := func() {
		withDB(t, url, func(ctx context.Context, db *ent.Client) {
			r := resellerByLogin(t, ctx, db, "depositor")
			if n := countTx(t, ctx, db, r.ID, transaction.KindDEPOSIT); n != 1 {
				t.Fatalf("%d DEPOSIT transactions, want 1", n)
			}
			assertLedger(t, ctx, db, r, "250.00")
			assertSandboxCharges(t, ctx, db, 1, "250.00")
		})
	}
	check()
	data := mustGQL(t, srv.addr, "", `mutation { login(input: {login: "depositor", password: "correct horse battery"}) { token reseller { balance status } } }`, nil)
	var login struct {
		Login struct {
			Token    string
			Reseller struct{ Balance, Status string }
		}
	}
	_ = json.Unmarshal(data, &login)
	if login.Login.Token == "" || login.Login.Reseller.Balance != "250.00" || login.Login.Reseller.Status != "ACTIVE" {
		t.Fatalf("login after the restart: %s", data)
	}
	// The client's retry of the registration answers a session and moves nothing.
	data = mustGQL(t, srv.addr, "", registerMutation("depositor", "250.00", "crash-register"), nil)
	var again struct{ RegisterReseller struct{ Token string } }
	_ = json.Unmarshal(data, &again)
	if again.RegisterReseller.Token == "" {
		t.Fatalf("the retried registration answered %s", data)
	}
	var me struct {
		Viewer struct {
			Reseller struct{ Login, Balance string }
		}
	}
	data = mustGQL(t, srv.addr, again.RegisterReseller.Token, `{ viewer { reseller { login balance } } }`, nil)
	_ = json.Unmarshal(data, &me)
	if me.Viewer.Reseller.Login != "depositor" || me.Viewer.Reseller.Balance != "250.00" {
		t.Fatalf("the retried registration's session sees %s", data)
	}
	check()
}

// crashBillAutopayment: `clnd bill` is killed after a reseller's invoice
// committed and before the autopayment it made due was charged. The
// autopayment is a PENDING attempt committed with the invoice, so a rerun
// of `clnd bill` settles it, although it skips the invoiced reseller.
func crashBillAutopayment(t *testing.T, bin, url string) {
	operator := operatorToken(t, bin, url)

	srv := startServe(t, bin, url, "", "--manual-billing")
	var clk struct{ Clock struct{ Now time.Time } }
	_ = json.Unmarshal(mustGQL(t, srv.addr, operator, `{ clock { now } }`, nil), &clk)
	now := clk.Clock.Now.UTC()
	monthStart := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	monthEnd := monthStart.AddDate(0, 1, 0)
	period := monthStart.Format("2006-01")
	advance := `mutation($to: Time!) { advanceClock(to: $to) { now } }`
	mustGQL(t, srv.addr, operator, advance, map[string]any{"to": monthStart})

	// 100.00 deposited, five CLOUDLINUX_OS licenses for the whole month:
	// the invoice is 155.00, the balance −55.00, AUTO_REPAY charges 55.00.
	token := registerWith(t, srv.addr, "repayer", "100.00", "")
	for i := 1; i <= 5; i++ {
		mustGQL(t, srv.addr, token, fmt.Sprintf(`mutation { addIPLicense(input: {ip: "203.0.113.%d", type: CLOUDLINUX_OS}) { license { id } } }`, i), nil)
	}
	mustGQL(t, srv.addr, operator, advance, map[string]any{"to": monthEnd.Add(time.Hour)})
	srv.stop(t)

	bill := startProc(t, bin, []string{"CLND_FAILPOINT=after-debit", "CLND_PAYMENT_GRACE=1s"},
		"bill", "--sandbox", "--period", period, "--database-url", url)
	bill.waitFor(t, "failpoint after-debit reached")
	bill.kill(t)

	var resellerID string
	withDB(t, url, func(ctx context.Context, db *ent.Client) {
		r := resellerByLogin(t, ctx, db, "repayer")
		resellerID = r.ID
		if n, err := db.Invoice.Query().Where(invoice.ResellerID(r.ID), invoice.TypeEQ(invoice.TypeINVOICE)).Count(ctx); err != nil || n != 1 {
			t.Fatalf("%d invoices after the kill (%v), want the month's one committed", n, err)
		}
		if r.Balance != money.MustParse("-55.00") {
			t.Fatalf("balance after the invoice %s, want -55.00", r.Balance)
		}
		a := onlyAttempt(t, ctx, db, r.ID, paymentattempt.PurposeAUTOPAYMENT)
		if a.Status != paymentattempt.StatusPENDING || a.Amount != money.MustParse("55.00") {
			t.Fatalf("the autopayment attempt is %s for %s, want PENDING for 55.00", a.Status, a.Amount)
		}
		if n := countTx(t, ctx, db, r.ID, transaction.KindAUTOPAYMENT); n != 0 {
			t.Fatalf("%d AUTOPAYMENT transactions before the rerun", n)
		}
		waitPastNextTry(t, a)
	})

	// The rerun skips the invoiced reseller but first settles what the dead run left.
	rerun := startProc(t, bin, []string{"CLND_PAYMENT_GRACE=1s"}, "bill", "--sandbox", "--period", period, "--database-url", url)
	if err := rerun.wait(t, 120*time.Second); err != nil {
		t.Fatalf("the rerun of clnd bill failed: %v\n%s", err, rerun.output())
	}
	if !strings.Contains(rerun.output(), "settled 1 pending payments") || !strings.Contains(rerun.output(), "0 invoices") {
		t.Fatalf("the rerun of clnd bill said:\n%s", rerun.output())
	}
	withDB(t, url, func(ctx context.Context, db *ent.Client) {
		r, err := db.Reseller.Get(ctx, resellerID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Balance < 0 || r.Status != reseller.StatusACTIVE {
			t.Fatalf("after the rerun the reseller is %s at %s, want ACTIVE and repaid", r.Status, r.Balance)
		}
		a := onlyAttempt(t, ctx, db, r.ID, paymentattempt.PurposeAUTOPAYMENT)
		if a.Status != paymentattempt.StatusSUCCEEDED {
			t.Fatalf("the autopayment attempt is %s, want SUCCEEDED", a.Status)
		}
		if n := countTx(t, ctx, db, r.ID, transaction.KindAUTOPAYMENT); n != 1 {
			t.Fatalf("%d AUTOPAYMENT transactions, want 1", n)
		}
		if n, err := db.Invoice.Query().Where(invoice.ResellerID(r.ID), invoice.TypeEQ(invoice.TypeINVOICE)).Count(ctx); err != nil || n != 1 {
			t.Fatalf("%d invoices after the rerun (%v), want 1", n, err)
		}
		assertLedger(t, ctx, db, r, "0.00")
		assertSandboxCharges(t, ctx, db, 2, "155.00") // the deposit and the autopayment
	})
}

// --- processes ---

type proc struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// startProc runs the binary with extra environment; the test's cleanup
// kills it if it still runs, and logs its output when the test failed.
func startProc(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CLND_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("clnd %s:\n%s", strings.Join(args, " "), p.output())
		}
	})
	return p
}

// startServe runs clnd serve in sandbox mode with a 1 s payment grace and
// the failpoint (if any), and waits until it is ready.
func startServe(t *testing.T, bin, url, failpoint string, flags ...string) *proc {
	t.Helper()
	env := []string{"CLND_PAYMENT_GRACE=1s"}
	if failpoint != "" {
		env = append(env, "CLND_FAILPOINT="+failpoint)
	}
	addr := freeAddr(t)
	p := startProc(t, bin, env, append([]string{"serve", "--sandbox", "--addr", addr, "--database-url", url}, flags...)...)
	p.addr = addr
	return waitReady(t, p)
}

// waitFor waits until the process has printed s.
func (p *proc) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(p.output(), s) {
		select {
		case <-p.done:
			t.Fatalf("clnd ended (%v) without printing %q:\n%s", p.err, s, p.output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("clnd did not print %q within 90 s:\n%s", s, p.output())
		}
	}
}

// kill is kill -9.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// stop asks the process to end, as an operator's Ctrl-C.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(os.Interrupt)
	if err := p.wait(t, 60*time.Second); err != nil {
		t.Fatalf("clnd did not stop cleanly: %v\n%s", err, p.output())
	}
}

func (p *proc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		t.Fatalf("clnd still runs after %s:\n%s", d, p.output())
		return nil
	}
}

// --- the API ---

// operatorToken is a new operator token from clnd admin create-token.
func operatorToken(t *testing.T, bin, url string) string {
	t.Helper()
	out, err := exec.Command(bin, "admin", "create-token", "--name", "crash", "--database-url", url).Output()
	if err != nil {
		t.Fatalf("create-token: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

type gqlError struct {
	Message    string
	Extensions map[string]any
}

var gqlClient = &http.Client{Timeout: 2 * time.Minute}

func gql(addr, token, query string, vars map[string]any) (json.RawMessage, []gqlError, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := gqlClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	var out struct {
		Data   json.RawMessage
		Errors []gqlError
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", raw, err)
	}
	return out.Data, out.Errors, nil
}

func mustGQL(t *testing.T, addr, token, query string, vars map[string]any) json.RawMessage {
	t.Helper()
	data, errs, err := gql(addr, token, query, vars)
	if err != nil || len(errs) > 0 {
		t.Fatalf("%s: %v %+v", query, err, errs)
	}
	return data
}

func registerMutation(login, deposit, key string) string {
	keyArg := ""
	if key != "" {
		keyArg = fmt.Sprintf(", idempotencyKey: %q", key)
	}
	return fmt.Sprintf(`mutation { registerReseller(input: {login: %q, password: "correct horse battery",
		billingEmail: "%s@example.com", initialDeposit: %q, acceptAgreement: true,
		paymentMethod: {gatewayToken: "tok_visa"}%s}) { token } }`, login, login, deposit, keyArg)
}

func registerWith(t *testing.T, addr, login, deposit, key string) string {
	t.Helper()
	var out struct{ RegisterReseller struct{ Token string } }
	_ = json.Unmarshal(mustGQL(t, addr, "", registerMutation(login, deposit, key), nil), &out)
	if out.RegisterReseller.Token == "" {
		t.Fatal("registerReseller answered no token")
	}
	return out.RegisterReseller.Token
}

// hasTxKind tells whether the reseller's transactions, read through the
// API, include one of the kind.
func hasTxKind(t *testing.T, addr, token, kind string) bool {
	t.Helper()
	var out struct {
		Transactions struct {
			Edges []struct{ Node struct{ Kind string } }
		}
	}
	if err := json.Unmarshal(mustGQL(t, addr, token, `{ transactions(first: 100) { edges { node { kind } } } }`, nil), &out); err != nil {
		t.Fatal(err)
	}
	for _, e := range out.Transactions.Edges {
		if e.Node.Kind == kind {
			return true
		}
	}
	return false
}

// --- the database, read directly ---

func withDB(t *testing.T, url string, fn func(context.Context, *ent.Client)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fn(viewer.SystemContext(ctx), db.Client)
}

func resellerByLogin(t *testing.T, ctx context.Context, db *ent.Client, login string) *ent.Reseller {
	t.Helper()
	r, err := db.Reseller.Query().Where(reseller.Login(login)).Only(ctx)
	if err != nil {
		t.Fatalf("reseller %s: %v", login, err)
	}
	return r
}

func onlyAttempt(t *testing.T, ctx context.Context, db *ent.Client, resellerID string, purpose paymentattempt.Purpose) *ent.PaymentAttempt {
	t.Helper()
	all, err := db.PaymentAttempt.Query().Where(paymentattempt.ResellerID(resellerID), paymentattempt.PurposeEQ(purpose)).All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Fatalf("%d %s attempts, want 1: %v", len(all), purpose, all)
	}
	return all[0]
}

func countTx(t *testing.T, ctx context.Context, db *ent.Client, resellerID string, kind transaction.Kind) int {
	t.Helper()
	n, err := db.Transaction.Query().Where(transaction.ResellerID(resellerID), transaction.KindEQ(kind)).Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// assertLedger: the balance is want, and it is the sum of all the
// reseller's transactions, the last of which ends at it.
func assertLedger(t *testing.T, ctx context.Context, db *ent.Client, r *ent.Reseller, want string) {
	t.Helper()
	txns, err := db.Transaction.Query().Where(transaction.ResellerID(r.ID)).Order(ent.Asc(transaction.FieldCreatedAt), ent.Asc(transaction.FieldID)).All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sum money.Cents
	for _, x := range txns {
		sum += x.Amount
	}
	if r.Balance != money.MustParse(want) || sum != r.Balance {
		t.Fatalf("balance %s, Σ %d transactions %s; want both %s", r.Balance, len(txns), sum, want)
	}
}

// assertSandboxCharges: the sandbox (the provider's side) took n charges,
// want in all: nothing was charged twice under another key.
func assertSandboxCharges(t *testing.T, ctx context.Context, db *ent.Client, n int, want string) {
	t.Helper()
	charges, err := db.SandboxPayment.Query().Where(sandboxpayment.KindEQ(sandboxpayment.KindCHARGE)).All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sum money.Cents
	for _, c := range charges {
		sum += c.Amount
	}
	if len(charges) != n || sum != money.MustParse(want) {
		t.Fatalf("the sandbox took %d charges for %s, want %d for %s", len(charges), sum, n, want)
	}
}

// waitPastNextTry waits until the wall clock has passed the attempt's next
// try (opened + the 1 s grace), so the reconciler's first pass takes it.
func waitPastNextTry(t *testing.T, a *ent.PaymentAttempt) {
	t.Helper()
	var next time.Time
	switch at := any(a.NextTryAt).(type) { // a time.Time, or a *time.Time since attempts may predate it
	case time.Time:
		next = at
	case *time.Time:
		if at == nil {
			t.Fatal("a PENDING attempt without a next try")
		}
		next = *at
	}
	if d := time.Until(next); d > 0 {
		if d > 30*time.Second {
			t.Fatalf("the attempt's next try is %s away; CLND_PAYMENT_GRACE=1s was not applied", d)
		}
		time.Sleep(d + 100*time.Millisecond)
	}
}

// waitReady waits (at most 90 s) until the started clnd serve at p.addr
// answers /readyz with 200, and returns p.
func waitReady(t *testing.T, p *proc) *proc {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if resp, err := http.Get("http://" + p.addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("clnd serve ended before it was ready: %v\n%s", p.err, p.output())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("clnd serve was not ready within 90 s:\n%s", p.output())
		}
	}
}

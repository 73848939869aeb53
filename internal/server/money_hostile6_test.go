package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/money"
	"clnd/internal/payments"
	"clnd/internal/pgtest"
	"clnd/internal/server"
)

// Money under deadlines: 240 money mutations of one reseller (top-ups and
// the operator's credits and debits, each with its idempotency key), ten
// at a time, with a request timeout of a second, while the database is
// made slow at random moments: the reseller's row or the ledger's tables
// locked by another transaction for less or more than the timeout, or
// every PostgreSQL process frozen for a while. Every answer comes within
// the request's bounds and is a success or 503 UNAVAILABLE with
// Retry-After (never INTERNAL, never a hang). Afterwards, with the
// database left alone, each mutation retried with its key succeeds, an
// answered one replays its first result, and each key moved money exactly
// once: one transaction per key, the balance the sum of the transactions,
// the gateway holding exactly what the ledger credited from it.
func TestHostileMoneyUnderDeadlinesAndASlowDatabase(t *testing.T) {
	const timeout = time.Second
	pg := pgtest.StartStoppable(t)
	g := &payments.Sandbox{}
	e := apitest.New(t, "postgres", apitest.WithDatabaseURL(pg.DSN()), apitest.WithoutShadow(),
		apitest.WithConfig(func(c *server.Config) { c.RequestTimeout = timeout; c.Gateway = g }))
	seller := e.Register("h6-money") // 250.00 deposited

	const topUpQ = `mutation($amount: Money!, $key: String) { topUp(input: {amount: $amount, idempotencyKey: $key}) {
		transaction { id kind amount } } }`
	const adjustQ = `mutation($rid: ID!, $amount: Money!, $reason: String!, $key: String) {
		adjustBalance(input: {resellerID: $rid, amount: $amount, reason: $reason, idempotencyKey: $key}) { transaction { id kind amount } } }`
	type op struct {
		req  apitest.Request
		kind string // TOP_UP or ADJUSTMENT
		amt  string
		why  string
	}
	const ops = 240
	all := make([]op, ops)
	for i := range all {
		switch i % 3 {
		case 0:
			all[i] = op{apitest.Request{Token: seller.Token, Query: topUpQ,
				Variables: map[string]any{"amount": "3.00", "key": fmt.Sprint("t-", i)}}, "TOP_UP", "3.00", ""}
		case 1:
			why := fmt.Sprint("credit ", i)
			all[i] = op{apitest.Request{Token: e.OperatorToken, Query: adjustQ,
				Variables: map[string]any{"rid": seller.ID, "amount": "2.00", "reason": why, "key": fmt.Sprint("a-", i)}}, "ADJUSTMENT", "2.00", why}
		default:
			why := fmt.Sprint("debit ", i)
			all[i] = op{apitest.Request{Token: e.OperatorToken, Query: adjustQ,
				Variables: map[string]any{"rid": seller.ID, "amount": "-1.00", "reason": why, "key": fmt.Sprint("a-", i)}}, "ADJUSTMENT", "-1.00", why}
		}
	}

	client := &http.Client{Timeout: 20 * time.Second}
	type answer struct {
		status     int
		code, msg  string
		retryAfter string
		txnID      string
		took       time.Duration
		err        error
	}
	send := func(req apitest.Request) answer {
		body, _ := json.Marshal(map[string]any{"query": req.Query, "variables": req.Variables})
		hr, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/graphql", bytes.NewReader(body))
		hr.Header.Set("Content-Type", "application/json")
		hr.Header.Set("Authorization", "Bearer "+req.Token)
		began := time.Now()
		resp, err := client.Do(hr)
		if err != nil {
			return answer{err: err, took: time.Since(began)}
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), took: time.Since(began), err: err}
		var out struct {
			Data map[string]struct {
				Transaction struct{ ID string }
			}
			Errors []struct {
				Message    string
				Extensions struct{ Code string }
			}
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			a.err = fmt.Errorf("%v: %s", err, raw)
			return a
		}
		if len(out.Errors) > 0 {
			a.code, a.msg = out.Errors[0].Extensions.Code, out.Errors[0].Message
		}
		for _, v := range out.Data {
			a.txnID = v.Transaction.ID
		}
		return a
	}

	// The trouble: locks held by a transaction of the test's, or a freeze.
	stop := make(chan struct{})
	var trouble sync.WaitGroup
	var kinds sync.Map
	trouble.Add(1)
	go func() {
		defer trouble.Done()
		locks := []string{
			`SELECT 1 FROM resellers WHERE id = $1 FOR UPDATE`,
			`LOCK TABLE resellers IN EXCLUSIVE MODE`,
			`LOCK TABLE transactions IN EXCLUSIVE MODE`,
			`LOCK TABLE idempotency_records IN EXCLUSIVE MODE`,
		}
		for round := 0; ; round++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(100+rand.IntN(500)) * time.Millisecond):
			}
			hold := time.Duration(200+rand.IntN(2300)) * time.Millisecond // shorter and longer than the timeout
			if round == 0 || rand.IntN(3) == 0 {
				pg.Freeze()
				kinds.Store("freeze", true)
				time.Sleep(hold)
				pg.Thaw()
				continue
			}
			lock := locks[rand.IntN(len(locks))]
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			tx, err := e.DB.SQL.BeginTx(ctx, nil)
			if err == nil {
				if lock == locks[0] {
					_, err = tx.ExecContext(ctx, lock, seller.ID)
				} else {
					_, err = tx.ExecContext(ctx, lock)
				}
				if err == nil {
					kinds.Store(lock, true)
					time.Sleep(hold)
				}
				_ = tx.Rollback()
			}
			cancel()
		}
	}()

	first := make([]answer, ops)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				first[i] = send(all[i].req)
				time.Sleep(time.Duration(rand.IntN(400)) * time.Millisecond)
			}
		}()
	}
	for i := range ops {
		work <- i
	}
	close(work)
	wg.Wait()
	close(stop)
	trouble.Wait()
	pg.Thaw()

	codes := map[string]int{}
	for i, a := range first {
		switch {
		case a.err != nil:
			t.Errorf("op %d: no answer after %v: %v", i, a.took, a.err)
		case a.status == http.StatusOK && a.code == "" && a.txnID != "":
			codes["ok"]++
		case a.status == http.StatusServiceUnavailable && a.code == "UNAVAILABLE" && a.retryAfter != "":
			codes["UNAVAILABLE"]++
		default:
			t.Errorf("op %d (%s %s) during the trouble: HTTP %d %s %q, Retry-After %q", i, all[i].kind, all[i].amt, a.status, a.code, a.msg, a.retryAfter)
		}
		// The request timeout, the watchdog's grace and scheduling slack.
		if a.took > timeout+time.Second+1500*time.Millisecond {
			t.Errorf("op %d answered after %v", i, a.took)
		}
	}
	var troubles []string
	kinds.Range(func(k, _ any) bool { troubles = append(troubles, fmt.Sprint(k)); return true })
	t.Logf("answers during the trouble: %v; trouble made: %q", codes, troubles)
	if codes["UNAVAILABLE"] == 0 || codes["ok"] == 0 {
		t.Errorf("the trouble did not mix answers: %v", codes)
	}

	// Healthy again: wait for the pool, then see what was written before
	// any retry (an UNAVAILABLE whose COMMIT the database did apply).
	deadline := time.Now().Add(30 * time.Second)
	for send(apitest.Request{Token: seller.Token, Query: `{ viewer { reseller { balance } } }`}).code != "" {
		if time.Now().After(deadline) {
			t.Fatal("the database does not answer 30 s after the thaw")
		}
		time.Sleep(200 * time.Millisecond)
	}
	ledger := func() (balance money.Cents, txns map[string]struct{ Kind, Amount, Description string }) {
		txns = map[string]struct{ Kind, Amount, Description string }{}
		var sum money.Cents
		var after any
		for {
			var out struct {
				Node struct {
					Balance      string
					Transactions struct {
						PageInfo struct {
							HasNextPage bool
							EndCursor   string
						}
						Edges []struct {
							Node struct{ ID, Kind, Amount, Description string }
						}
					}
				}
			}
			e.Query(e.OperatorToken, `query($id: ID!, $after: Cursor) { node(id: $id) { ... on Reseller { balance
				transactions(first: 100, after: $after) { pageInfo { hasNextPage endCursor } edges { node { id kind amount description } } } } } }`,
				map[string]any{"id": seller.ID, "after": after}, &out)
			balance = money.MustParse(out.Node.Balance)
			for _, ed := range out.Node.Transactions.Edges {
				n := ed.Node
				txns[n.ID] = struct{ Kind, Amount, Description string }{n.Kind, n.Amount, n.Description}
				sum += money.MustParse(n.Amount)
			}
			if !out.Node.Transactions.PageInfo.HasNextPage {
				break
			}
			after = out.Node.Transactions.PageInfo.EndCursor
		}
		if sum != balance {
			t.Fatalf("balance %s, but the transactions sum to %s", balance, sum)
		}
		return balance, txns
	}
	_, before := ledger()
	applied := 0
	for i, a := range first {
		if a.code == "UNAVAILABLE" && all[i].kind == "ADJUSTMENT" {
			for _, tx := range before {
				if tx.Description == all[i].why {
					applied++
				}
			}
		}
	}
	t.Logf("adjustments answered UNAVAILABLE that the database applied all the same: %d", applied)

	// Every mutation retried with its key.
	retried := make([]answer, ops)
	for i := range all {
		retried[i] = send(all[i].req)
		a := retried[i]
		if a.err != nil || a.status != http.StatusOK || a.code != "" || a.txnID == "" {
			t.Fatalf("op %d retried with its key: HTTP %d %s %q (%v)", i, a.status, a.code, a.msg, a.err)
		}
		if first[i].code == "" && first[i].txnID != a.txnID {
			t.Errorf("op %d answered transaction %s, its retry %s: the first result is not replayed", i, first[i].txnID, a.txnID)
		}
	}
	var settled struct {
		SettlePaymentAttempts struct{ Settled, Pending int }
	}
	e.Query(e.OperatorToken, `mutation { settlePaymentAttempts { settled pending } }`, nil, &settled)
	if settled.SettlePaymentAttempts.Pending != 0 {
		t.Errorf("payment attempts still pending: %+v", settled)
	}
	balance, txns := ledger()
	perKind := map[string]int{}
	var fromGateway money.Cents
	for id, tx := range txns {
		perKind[tx.Kind]++
		if tx.Kind == "DEPOSIT" || tx.Kind == "TOP_UP" || tx.Kind == "AUTOPAYMENT" {
			fromGateway += money.MustParse(tx.Amount)
		}
		_ = id
	}
	seen := map[string]int{}
	for i, a := range retried {
		seen[a.txnID]++
		tx, ok := txns[a.txnID]
		if !ok || tx.Kind != all[i].kind || tx.Amount != all[i].amt || (all[i].why != "" && tx.Description != all[i].why) {
			t.Errorf("op %d (%s %s %q) answered transaction %s, which the ledger has as %+v (%v)", i, all[i].kind, all[i].amt, all[i].why, a.txnID, tx, ok)
		}
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("transaction %s answers %d different keys", id, n)
		}
	}
	if perKind["TOP_UP"] != ops/3 || perKind["ADJUSTMENT"] != 2*ops/3 || perKind["DEPOSIT"] != 1 {
		t.Errorf("transactions by kind %v; want %d TOP_UP, %d ADJUSTMENT, 1 DEPOSIT", perKind, ops/3, 2*ops/3)
	}
	// 250 + a third each of 3.00, 2.00 and −1.00, and no autopayment (the
	// balance never went below zero).
	if want := money.MustParse("250.00") + money.Cents(ops/3*400); balance != want {
		t.Errorf("balance %s, want %s", balance, want)
	}
	took, err := g.Charged(e.Ctx())
	if err != nil {
		t.Fatal(err)
	}
	if took != fromGateway {
		t.Errorf("the gateway took %s, the ledger credited %s from it", took, fromGateway)
	}
}

// Cheap queries of four resellers under a request timeout so short (40 ms)
// that deadlines land around the moment the database answers, half the
// time with the database frozen for about the connections' expiry grace
// (250 ms) at random moments, so that sockets are expired just as answers
// arrive. A request that fails must have run out of its own time (the
// deadline's message); none fails because a connection another request's
// expiry broke was handed to it ("cannot be reached", INTERNAL), and none
// gets another reseller's data. (While the server is frozen a request may
// also be answered UNAVAILABLE at once: its socket refuses connections once
// the queue of those waiting for the postmaster is full.)
func TestHostileTinyRequestTimeoutHurtsNoOtherRequest(t *testing.T) {
	pg := pgtest.StartStoppable(t)
	var timeout = 40 * time.Millisecond
	setup := apitest.New(t, "postgres", apitest.WithDatabaseURL(pg.DSN()), apitest.WithoutShadow())
	type who struct{ login, token string }
	var sellers []who
	for i := range 4 { // signing up takes longer than the tiny timeout
		r := setup.Register(fmt.Sprint("h6-tiny-", i))
		sellers = append(sellers, who{r.Login, setup.APIToken(r.Token, "READ")})
	}
	e := apitest.Reopen(t, setup, apitest.WithConfig(func(c *server.Config) { c.RequestTimeout = timeout }))
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	query := []byte(`{"query": "{ viewer { reseller { login balance } } }"}`)

	stop := make(chan struct{})
	var trouble sync.WaitGroup
	type window struct{ from, to, thaw time.Time }
	// afterThaw is the latest a request answered at once was sent after a
	// thaw: the postmaster then works through the connections queued on
	// its socket meanwhile.
	const afterThawMargin = time.Second
	var afterThaw time.Duration
	var mu sync.Mutex
	var frozen []window // each freeze, until a little after its thaw
	frozenDuring := func(from, to time.Time) bool {
		mu.Lock()
		defer mu.Unlock()
		for i := len(frozen) - 1; i >= 0; i-- {
			w := frozen[i]
			if w.from.After(to) {
				continue // a later freeze
			}
			if w.thaw.IsZero() || from.Before(w.thaw) {
				return true // sent during this freeze
			}
			if since := from.Sub(w.thaw); since < afterThawMargin {
				afterThaw = max(afterThaw, since)
				return true
			}
			return false
		}
		return false
	}
	trouble.Add(1)
	go func() {
		defer trouble.Done()
		select {
		case <-stop:
			return
		case <-time.After(4 * time.Second): // the first half without freezes
		}
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(50+rand.IntN(300)) * time.Millisecond):
			}
			mu.Lock()
			frozen = append(frozen, window{from: time.Now(), to: time.Now().Add(time.Hour)})
			mu.Unlock()
			pg.Freeze()
			time.Sleep(time.Duration(150+rand.IntN(200)) * time.Millisecond)
			pg.Thaw()
			mu.Lock()
			frozen[len(frozen)-1].thaw = time.Now()
			frozen[len(frozen)-1].to = time.Now().Add(afterThawMargin)
			mu.Unlock()
		}
	}()

	counts := map[string]int{}
	var bad []string
	end := time.Now().Add(9 * time.Second)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := sellers[w%len(sellers)]
			for time.Now().Before(end) {
				hr, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/graphql", bytes.NewReader(query))
				hr.Header.Set("Content-Type", "application/json")
				hr.Header.Set("Authorization", "Bearer "+s.token)
				began := time.Now()
				resp, err := client.Do(hr)
				var raw []byte
				if err == nil {
					raw, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				took := time.Since(began)
				var out struct {
					Data struct {
						Viewer struct{ Reseller *struct{ Login string } }
					}
					Errors []struct {
						Message    string
						Extensions struct{ Code string }
					}
				}
				if err == nil {
					err = json.Unmarshal(raw, &out)
				}
				var verdict string
				switch {
				case err != nil:
					verdict = fmt.Sprintf("no answer after %v: %v", took, err)
				case resp.StatusCode == http.StatusOK && len(out.Errors) == 0 && out.Data.Viewer.Reseller != nil:
					if got := out.Data.Viewer.Reseller.Login; got != s.login {
						verdict = fmt.Sprintf("%s's query answered %s's data", s.login, got)
					} else {
						verdict = "ok"
					}
				case resp.StatusCode == http.StatusServiceUnavailable && len(out.Errors) == 1 &&
					out.Errors[0].Extensions.Code == "UNAVAILABLE" && resp.Header.Get("Retry-After") != "" &&
					(out.Errors[0].Message == server.DeadlineMessage || took >= timeout):
					// Its own deadline passed (during the token check the
					// answer says "cannot be reached", not the deadline's
					// message: the same code).
					verdict = "deadline"
				case resp.StatusCode == http.StatusServiceUnavailable && len(out.Errors) == 1 &&
					out.Errors[0].Extensions.Code == "UNAVAILABLE" && resp.Header.Get("Retry-After") != "" &&
					frozenDuring(began, time.Now()):
					// A frozen server's socket refuses connections once its
					// queue is full (new ones and lib/pq's cancel requests):
					// an outage answered as one, at once.
					verdict = "frozen"
				default:
					mu.Lock()
					var last window
					if n := len(frozen); n > 0 {
						last = frozen[n-1]
					}
					mu.Unlock()
					verdict = fmt.Sprintf("HTTP %d after %v, sent %v after the last freeze began, its thaw %v later: %s",
						resp.StatusCode, took.Round(time.Millisecond), began.Sub(last.from).Round(time.Millisecond),
						last.thaw.Sub(last.from).Round(time.Millisecond), raw)
				}
				mu.Lock()
				if verdict == "ok" || verdict == "deadline" || verdict == "frozen" {
					counts[verdict]++
				} else {
					counts["bad"]++
					if len(bad) < 10 {
						bad = append(bad, verdict)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	trouble.Wait()
	pg.Thaw()
	t.Logf("answers: %v; %d freezes; a request answered at once sent up to %v after a thaw", counts, len(frozen), afterThaw.Round(time.Millisecond))
	for _, b := range bad {
		t.Error(b)
	}
	if counts["ok"] == 0 || counts["deadline"] == 0 {
		t.Errorf("the run did not mix answers and deadlines: %v", counts)
	}
}

package checkout_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/checkout"
	"clnd/internal/pgtest"
	"clnd/internal/secrets"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const start = `mutation($a: Money!) { startCheckout(input: {amount: $a}) { checkout { id status amount redirectURL } } }`

type started struct {
	StartCheckout struct {
		Checkout struct{ ID, Status, Amount, RedirectURL string }
	}
}

func balance(t *testing.T, e *apitest.Env, token string) (string, int) {
	t.Helper()
	var out struct {
		Viewer struct {
			Reseller struct {
				Balance      string
				Transactions struct{ TotalCount int }
			}
		}
	}
	e.Query(token, `{ viewer { reseller { balance transactions { totalCount } } } }`, nil, &out)
	return out.Viewer.Reseller.Balance, out.Viewer.Reseller.Transactions.TotalCount
}

func status(t *testing.T, e *apitest.Env, token, id string) string {
	t.Helper()
	var out struct{ Node struct{ Status string } }
	e.Query(token, `query($id: ID!) { node(id: $id) { ... on Checkout { status } } }`, map[string]any{"id": id}, &out)
	return out.Node.Status
}

// A person follows the redirect and clicks Pay: the sandbox provider's
// signed webhook credits the amount once, however often it arrives.
func TestCheckoutPaidThroughTheSandboxPage(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice") // 250.00
		e.Expect("BAD_USER_INPUT", "amount", a.Token, start, map[string]any{"a": "0.99"})
		e.Expect("FORBIDDEN", "", e.OperatorToken, start, map[string]any{"a": "10.00"})
		var s started
		e.Query(a.Token, start, map[string]any{"a": "75.00"}, &s)
		c := s.StartCheckout.Checkout
		if c.Status != "PENDING" || !strings.HasPrefix(c.RedirectURL, e.Server.URL+checkout.SandboxPath) {
			t.Fatalf("checkout %+v", c)
		}
		if b, _ := balance(t, e, a.Token); b != "250.00" {
			t.Fatalf("a started checkout moved money: %s", b)
		}
		page, err := e.Server.Client().Get(c.RedirectURL)
		if err != nil {
			t.Fatal(err)
		}
		html, _ := io.ReadAll(page.Body)
		page.Body.Close()
		if !strings.Contains(string(html), "75.00") || !strings.Contains(string(html), ">Pay<") {
			t.Fatalf("checkout page: %s", html)
		}
		u, _ := url.Parse(c.RedirectURL)
		for i := 0; i < 2; i++ { // a double click
			resp, err := e.Server.Client().Post(e.Server.URL+u.Path+"/pay", "application/x-www-form-urlencoded", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("pay: %d", resp.StatusCode)
			}
		}
		if b, n := balance(t, e, a.Token); b != "325.00" || n != 2 {
			t.Fatalf("after paying: balance %s with %d transactions", b, n)
		}
		if st := status(t, e, a.Token, c.ID); st != "COMPLETED" {
			t.Fatalf("status %s", st)
		}
	})
}

func TestWebhookIsVerifiedAndCreditsOnce(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		var s started
		e.Query(a.Token, start, map[string]any{"a": "40.00"}, &s)
		id := s.StartCheckout.Checkout.ID
		secret, err := secrets.Get(e.Ctx(), e.DB.Client, secrets.SandboxWebhook)
		if err != nil {
			t.Fatal(err)
		}
		post := func(body []byte, signature string) int {
			req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/webhooks/payments/sandbox", bytes.NewReader(body))
			req.Header.Set(checkout.SignatureHeader, signature)
			resp, err := e.Server.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		body, _ := json.Marshal(checkout.Event{ID: "evt_1", Type: "checkout.completed", Checkout: id})
		// Unsigned, wrongly signed, stale or tampered events change nothing.
		for _, sig := range []string{"", "t=1,v1=00", checkout.Sign([]byte("other secret"), body, time.Now()),
			checkout.Sign(secret, body, time.Now().Add(-time.Hour))} {
			if code := post(body, sig); code != http.StatusBadRequest {
				t.Fatalf("signature %q answered %d", sig, code)
			}
		}
		tampered := bytes.Replace(body, []byte("completed"), []byte("canceled"), 1)
		if code := post(tampered, checkout.Sign(secret, body, time.Now())); code != http.StatusBadRequest {
			t.Fatalf("a tampered body answered %d", code)
		}
		if b, _ := balance(t, e, a.Token); b != "250.00" {
			t.Fatalf("rejected webhooks moved money: %s", b)
		}
		// Ten deliveries of the same confirmation at once credit it once.
		var wg sync.WaitGroup
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if code := post(body, checkout.Sign(secret, body, time.Now())); code != http.StatusOK {
					t.Errorf("delivery answered %d", code)
				}
			}()
		}
		wg.Wait()
		if b, n := balance(t, e, a.Token); b != "290.00" || n != 2 {
			t.Fatalf("after ten deliveries: balance %s with %d transactions", b, n)
		}
		// A canceled checkout is never credited.
		e.Query(a.Token, start, map[string]any{"a": "10.00"}, &s)
		cancel, _ := json.Marshal(checkout.Event{ID: "evt_2", Type: "checkout.canceled", Checkout: s.StartCheckout.Checkout.ID})
		post(cancel, checkout.Sign(secret, cancel, time.Now()))
		pay, _ := json.Marshal(checkout.Event{ID: "evt_3", Type: "checkout.completed", Checkout: s.StartCheckout.Checkout.ID})
		post(pay, checkout.Sign(secret, pay, time.Now()))
		if st := status(t, e, a.Token, s.StartCheckout.Checkout.ID); st != "CANCELED" {
			t.Fatalf("status %s", st)
		}
		if b, _ := balance(t, e, a.Token); b != "290.00" {
			t.Fatalf("a canceled checkout was credited: %s", b)
		}
	})
}

// A webhook body over 256 KiB is refused whole (413), not cut short and
// then judged by its signature; GET is 405.
func TestWebhookBodyLimitAndMethod(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		for _, path := range []string{"/webhooks/payments/sandbox"} {
			big := bytes.Repeat([]byte("x"), 256<<10+1)
			resp, err := e.Server.Client().Post(e.Server.URL+path, "application/json", bytes.NewReader(big))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("%s with an oversized body: %d", path, resp.StatusCode)
			}
		}
		resp, err := e.Server.Client().Get(e.Server.URL + "/webhooks/payments/sandbox")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("GET: %d", resp.StatusCode)
		}
	})
}

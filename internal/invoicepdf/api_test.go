package invoicepdf_test

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"clnd/internal/apitest"
	"clnd/internal/invoicepdf"
	"clnd/internal/pgtest"
	"clnd/internal/seed"
	"clnd/internal/server"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var issuer = invoicepdf.Issuer{
	Name:    "Example Licensing Operator GmbH",
	Address: `Musterstraße 1\n10115 Berlin, Germany`,
	TaxID:   "DE123456789",
}

func TestInvoicePDF(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		if _, err := seed.Demo(e.Ctx(), e.DB.Client); err != nil {
			t.Fatal(err)
		}
		var login struct{ Login struct{ Token string } }
		e.Query("", `mutation { login(input: {login: "demo", password: "demo-password"}) { token } }`, nil, &login)
		owner := e.APIToken(login.Login.Token, "READ") // outlives the session as the clock moves
		type node struct{ ID, Number, Total, DownloadURL string }
		var out struct {
			Invoices struct{ Edges []struct{ Node node } }
		}
		read := func() node {
			e.Query(owner, `{ invoices(where: {type: INVOICE}, first: 2) { edges { node { id number total downloadURL } } } }`, nil, &out)
			if len(out.Invoices.Edges) < 2 {
				t.Fatalf("the demo has %d monthly invoices, want 2", len(out.Invoices.Edges))
			}
			return out.Invoices.Edges[0].Node
		}
		inv := read()
		signed, err := url.Parse(inv.DownloadURL)
		if err != nil || !strings.HasPrefix(inv.DownloadURL, e.Server.URL+"/invoices/"+inv.ID+".pdf?") ||
			signed.Query().Get("expires") == "" || len(signed.Query().Get("sig")) != 64 {
			t.Fatalf("downloadURL %q", inv.DownloadURL)
		}
		bare := e.Server.URL + "/invoices/" + inv.ID + ".pdf"
		get := func(link, token string) (int, []byte) {
			req, _ := http.NewRequest(http.MethodGet, link, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := e.Server.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode == http.StatusOK && resp.Header.Get("Content-Type") != "application/pdf" {
				t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
			}
			return resp.StatusCode, body
		}
		// The signed link downloads without a header, as a dashboard's plain
		// link does; the bare path still takes the owner's or an operator's token.
		code, pdf := get(inv.DownloadURL, "")
		if code != http.StatusOK || !strings.HasPrefix(string(pdf), "%PDF-") {
			t.Fatalf("signed link: %d %q", code, pdf[:min(len(pdf), 20)])
		}
		for who, token := range map[string]string{"owner": owner, "operator": e.OperatorToken} {
			if code, _ := get(bare, token); code != http.StatusOK {
				t.Fatalf("%s's token: %d", who, code)
			}
		}
		other := e.Register("mallory")
		for who, token := range map[string]string{"another reseller": other.Token, "anonymous": "", "a bad token": "clnd_ses_nope"} {
			if code, _ := get(bare, token); code != http.StatusNotFound {
				t.Fatalf("%s got %d, want 404", who, code)
			}
		}
		// A tampered link is 404: another signature, a later expiry, or the
		// signature moved to another invoice.
		q := signed.Query()
		sig := q.Get("sig")
		q.Set("sig", strings.Repeat("0", 64))
		tampered := []string{bare + "?" + q.Encode()}
		q.Set("sig", sig)
		q.Set("expires", q.Get("expires")+"0")
		tampered = append(tampered, bare+"?"+q.Encode(),
			strings.Replace(inv.DownloadURL, inv.ID, out.Invoices.Edges[1].Node.ID, 1))
		for _, link := range tampered {
			if code, _ := get(link, ""); code != http.StatusNotFound {
				t.Fatalf("tampered link %s answered %d", link, code)
			}
		}
		// 15 minutes later the link has expired: 404 without a token, the
		// owner's token still downloads, and downloadURL is signed anew.
		e.Query(e.OperatorToken, `mutation($to: Time!) { advanceClock(to: $to) { now } }`,
			map[string]any{"to": e.Clock.Now().Add(invoicepdf.DefaultLinkTTL + time.Second)}, nil)
		if code, _ := get(inv.DownloadURL, ""); code != http.StatusNotFound {
			t.Fatalf("an expired link answered %d", code)
		}
		if code, _ := get(inv.DownloadURL, owner); code != http.StatusOK {
			t.Fatalf("an expired link with the owner's token answered %d", code)
		}
		if fresh := read(); fresh.DownloadURL == inv.DownloadURL {
			t.Fatalf("downloadURL was not signed anew: %s", fresh.DownloadURL)
		} else if code, _ := get(fresh.DownloadURL, ""); code != http.StatusOK {
			t.Fatalf("a fresh link answered %d", code)
		}

		// The PDF says what the invoice says, and who issued it.
		if _, err := exec.LookPath("pdftotext"); err != nil {
			t.Log("pdftotext not installed; not reading the PDF's text")
			return
		}
		path := filepath.Join(t.TempDir(), "invoice.pdf")
		if dir := os.Getenv("CLND_KEEP_PDF"); dir != "" {
			path = filepath.Join(dir, e.Backend+".pdf")
		}
		if err := os.WriteFile(path, pdf, 0o600); err != nil {
			t.Fatal(err)
		}
		text, err := exec.Command("pdftotext", "-layout", path, "-").Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Invoice", inv.Number, "$" + inv.Total, "CloudLinux OS", "Demo Hosting Ltd",
			issuer.Name, "Musterstraße 1", "10115 Berlin, Germany", "Tax ID: DE123456789"} {
			if !strings.Contains(string(text), want) {
				t.Errorf("the PDF lacks %q:\n%s", want, text)
			}
		}
	}, apitest.WithConfig(func(c *server.Config) { c.Issuer = issuer }))
}

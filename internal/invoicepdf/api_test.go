package invoicepdf_test

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"clnd/internal/apitest"
	"clnd/internal/pgtest"
	"clnd/internal/seed"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestInvoicePDF(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		if _, err := seed.Demo(e.Ctx(), e.DB.Client); err != nil {
			t.Fatal(err)
		}
		var login struct{ Login struct{ Token string } }
		e.Query("", `mutation { login(input: {login: "demo", password: "demo-password"}) { token } }`, nil, &login)
		owner := login.Login.Token
		var out struct {
			Invoices struct {
				Edges []struct {
					Node struct{ Number, Total, DownloadURL string }
				}
			}
		}
		e.Query(owner, `{ invoices(where: {type: INVOICE}, first: 1) { edges { node { number total downloadURL } } } }`, nil, &out)
		inv := out.Invoices.Edges[0].Node
		if !strings.HasPrefix(inv.DownloadURL, e.Server.URL+"/invoices/inv_") || !strings.HasSuffix(inv.DownloadURL, ".pdf") {
			t.Fatalf("downloadURL %q", inv.DownloadURL)
		}
		get := func(token string) (int, []byte) {
			req, _ := http.NewRequest(http.MethodGet, inv.DownloadURL, nil)
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
		code, pdf := get(owner)
		if code != http.StatusOK || !strings.HasPrefix(string(pdf), "%PDF-") {
			t.Fatalf("owner: %d %q", code, pdf[:min(len(pdf), 20)])
		}
		if code, _ := get(e.OperatorToken); code != http.StatusOK {
			t.Fatalf("operator: %d", code)
		}
		other := e.Register("mallory")
		for who, token := range map[string]string{"another reseller": other.Token, "anonymous": "", "a bad token": "clnd_ses_nope"} {
			if code, _ := get(token); code != http.StatusNotFound {
				t.Fatalf("%s got %d, want 404", who, code)
			}
		}
		// The PDF says what the invoice says.
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
		for _, want := range []string{"Invoice", inv.Number, "$" + inv.Total, "CloudLinux OS", "Demo Hosting Ltd"} {
			if !strings.Contains(string(text), want) {
				t.Errorf("the PDF lacks %q:\n%s", want, text)
			}
		}
	})
}

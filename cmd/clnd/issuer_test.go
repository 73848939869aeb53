package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clnd serve's issuer settings, one from a flag and two from the
// environment, reach the invoice PDF, downloaded through its signed link
// without a token.
func TestServeNamesTheIssuerOnInvoicePDFs(t *testing.T) {
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Skip("pdftotext not installed")
	}
	url := "sqlite://" + filepath.Join(t.TempDir(), "clnd.db")
	t.Setenv("CLND_ISSUER_ADDRESS", `1 Example Street\nSpringfield, Nowhere`)
	t.Setenv("CLND_ISSUER_TAX_ID", "XY-42")
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stdout, stderr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "--sandbox", "--demo", "--addr", addr, "--database-url", url, "--issuer-name", "Issuer Test Ltd"}, &stdout, &stderr)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	post := func(token, query string, out any) {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"query": query})
		var resp *http.Response
		var err error
		for i := 0; i < 200; i++ {
			req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			if resp, err = http.DefaultClient.Do(req); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	var login struct {
		Data struct{ Login struct{ Token string } }
	}
	post("", `mutation { login(input: {login: "demo", password: "demo-password"}) { token } }`, &login)
	var invoices struct {
		Data struct {
			Invoices struct {
				Edges []struct{ Node struct{ DownloadURL string } }
			}
		}
	}
	post(login.Data.Login.Token, `{ invoices(where: {type: INVOICE}, first: 1) { edges { node { downloadURL } } } }`, &invoices)
	if len(invoices.Data.Invoices.Edges) != 1 {
		t.Fatalf("no invoice: %+v", invoices)
	}
	resp, err := http.Get(invoices.Data.Invoices.Edges[0].Node.DownloadURL)
	if err != nil {
		t.Fatal(err)
	}
	pdf, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the signed link answered %d", resp.StatusCode)
	}
	path := filepath.Join(t.TempDir(), "invoice.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	text, err := exec.Command("pdftotext", "-layout", path, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Issuer Test Ltd", "1 Example Street", "Springfield, Nowhere", "Tax ID: XY-42"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("the PDF lacks %q:\n%s", want, text)
		}
	}
}

package checkout_test

import (
	"html"
	"io"
	"net/http"
	"strings"
	"testing"

	"clnd/internal/apitest"
	"clnd/internal/server"
)

// The sandbox checkout page and clnd's outcome page link back to the
// dashboard: the checkout's returnURL when it named one, else clnd's start
// page (GraphiQL).
func TestCheckoutPagesLinkBackToTheDashboard(t *testing.T) {
	const dashboard = "https://dash.example.com"
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		a := e.Register("alice")
		noRedirects := *e.Server.Client()
		noRedirects.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		// page answers a page's status, body and where it redirects to.
		page := func(method, link string) (int, string) {
			req, _ := http.NewRequest(method, link, nil)
			resp, err := noRedirects.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if loc := resp.Header.Get("Location"); loc != "" {
				return resp.StatusCode, loc
			}
			return resp.StatusCode, html.UnescapeString(string(body))
		}
		for _, c := range []struct {
			name, input, back string
		}{
			{"with a returnURL", `returnURL: "` + dashboard + `/billing?paid=1"`, dashboard + "/billing?paid=1"},
			{"without one", ``, e.Server.URL + "/"},
		} {
			var s started
			e.Query(a.Token, `mutation { startCheckout(input: {amount: "20.00" `+c.input+`}) { checkout { id status amount redirectURL } } }`, nil, &s)
			link := `<a href="` + c.back + `">Back to the dashboard</a>`
			if _, body := page(http.MethodGet, s.StartCheckout.Checkout.RedirectURL); !strings.Contains(body, link) {
				t.Fatalf("%s: the sandbox page lacks %s:\n%s", c.name, link, body)
			}
			// Paying goes through clnd's return page to the dashboard's, or
			// to clnd's outcome page, which links back too.
			code, location := page(http.MethodPost, s.StartCheckout.Checkout.RedirectURL+"/pay")
			if code != http.StatusSeeOther {
				t.Fatalf("%s: pay answered %d", c.name, code)
			}
			code, body := page(http.MethodGet, e.Server.URL+location)
			switch {
			case c.input != "" && (code != http.StatusSeeOther || body != c.back):
				t.Fatalf("%s: the return page answered %d %s", c.name, code, body)
			case c.input == "" && (code != http.StatusOK || !strings.Contains(body, "Checkout completed") || !strings.Contains(body, link)):
				t.Fatalf("%s: the outcome page (%d) lacks %s:\n%s", c.name, code, link, body)
			}
			if _, body := page(http.MethodGet, s.StartCheckout.Checkout.RedirectURL); !strings.Contains(body, "COMPLETED") || !strings.Contains(body, link) {
				t.Fatalf("%s: the paid sandbox page lacks %s:\n%s", c.name, link, body)
			}
		}
	}, apitest.WithConfig(func(c *server.Config) { c.ReturnOrigins = []string{dashboard} }))
}

package stripefake_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// newHook is a webhook endpoint that hands each delivery to receive.
func newHook(t *testing.T, receive func(*http.Request, []byte)) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		receive(r, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

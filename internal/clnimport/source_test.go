package clnimport

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A source that speaks only CLN's own shapes: minute dates with a zone, no
// id or created_at, and no backup calls at all. Each request's token must
// verify, and no timestamp may be used twice.
func TestSourceReadsCLNShapes(t *testing.T) {
	seen := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(r.URL.Query().Get("token"), "|")
		sum := sha1.Sum([]byte("s3cret" + parts[1]))
		if len(parts) != 3 || parts[0] != "acme" || parts[2] != hex.EncodeToString(sum[:]) || seen[parts[1]] {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"success": false, "message": "bad token"}`))
			return
		}
		seen[parts[1]] = true
		switch r.URL.Path {
		case "/api/ipl/list.json":
			_, _ = w.Write([]byte(`{"success": true, "data": [{"ip": "203.0.113.5", "type": 1, "registered": true, "created": "2014-04-30T11:26-0400"}]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	src := &Source{URL: srv.URL + "/", Login: "acme", Secret: "s3cret"}
	lics, err := src.Licenses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2014, 4, 30, 15, 26, 0, 0, time.UTC)
	if len(lics) != 1 || lics[0].IP != "203.0.113.5" || lics[0].TypeCode != 1 || !lics[0].Created.Equal(want) {
		t.Fatalf("licenses %+v", lics)
	}
	bks, err := src.Backups(context.Background())
	if err != nil || bks != nil {
		t.Fatalf("a source without backup calls: %v, %v", bks, err)
	}
}

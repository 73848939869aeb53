package events_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"clnd/ent/webhookdelivery"
	"clnd/internal/apitest"
	"clnd/internal/viewer"
)

// Review finding: deliver.go:320 cuts the error at 500 bytes, which can split
// a UTF-8 sequence (the Location header is echoed with %q, which keeps
// printable non-ASCII). PostgreSQL refuses the invalid text, record() fails,
// River retries the job and posts again, and the attempt is never recorded.
func TestReviewErrorTruncationBreaksUTF8(t *testing.T) {
	e := apitest.New(t, "postgres", allowPrivate)
	r := e.Register("utf")
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		hits.Add(1)
		w.Header().Set("Location", "http://x/"+strings.Repeat("é", 300))
		w.WriteHeader(http.StatusFound)
	}))
	defer srv.Close()
	ep := create(t, e, r.Token, srv.URL+"/hooks", "*")
	e.AddLicense(r.Token, "203.0.113.40", "CLOUDLINUX_OS", "a")
	time.Sleep(6 * time.Second)
	ds, err := e.DB.Client.WebhookDelivery.Query().Where(webhookdelivery.EndpointID(ep.ID)).All(viewer.SystemContext(e.Ctx()))
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries: %v %d", err, len(ds))
	}
	if ds[0].Attempts != 1 || hits.Load() != 1 {
		t.Fatalf("attempts recorded %d, requests received %d (error %q)", ds[0].Attempts, hits.Load(), ds[0].Error)
	}
}

package graphiql

import (
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func do(t *testing.T, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec
}

func mediaType(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	mt, _, err := mime.ParseMediaType(rec.Header().Get("Content-Type"))
	if err != nil {
		t.Fatalf("bad Content-Type %q: %v", rec.Header().Get("Content-Type"), err)
	}
	return mt
}

func TestIndexHTML(t *testing.T) {
	for _, path := range []string{"/", "/graphiql", "/graphiql/"} {
		t.Run(path, func(t *testing.T) {
			rec := do(t, http.MethodGet, path)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200", rec.Code)
			}
			if mt := mediaType(t, rec); mt != "text/html" {
				t.Errorf("Content-Type = %q, want text/html", mt)
			}
			body := rec.Body.String()
			for _, want := range []string{
				`<title>clnd GraphiQL</title>`,
				`<script src="/graphiql/graphiql.js"></script>`,
				`<link rel="stylesheet" href="/graphiql/graphiql.css">`,
				`<div id="graphiql" style="height:100vh">`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("body does not contain %q", want)
				}
			}
		})
	}
}

func TestAssets(t *testing.T) {
	tests := []struct {
		path     string
		wantType string
	}{
		{"/graphiql/graphiql.js", "application/javascript"},
		{"/graphiql/graphiql.css", "text/css"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := do(t, http.MethodGet, tt.path)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200", rec.Code)
			}
			if mt := mediaType(t, rec); mt != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", mt, tt.wantType)
			}
			if got := rec.Header().Get("Cache-Control"); got != "public, max-age=3600" {
				t.Errorf("Cache-Control = %q, want %q", got, "public, max-age=3600")
			}
			if n := rec.Body.Len(); n <= 100*1024 {
				t.Errorf("body is %d bytes, want > 100 KiB", n)
			}

			etag := rec.Header().Get("ETag")
			if etag == "" {
				t.Fatal("missing ETag")
			}
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			req.Header.Set("If-None-Match", etag)
			rec2 := httptest.NewRecorder()
			Handler().ServeHTTP(rec2, req)
			if rec2.Code != http.StatusNotModified {
				t.Errorf("conditional GET status = %d, want 304", rec2.Code)
			}
		})
	}
}

func TestHead(t *testing.T) {
	rec := do(t, http.MethodHead, "/graphiql/graphiql.js")
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	if rec.Body.Len() != 0 {
		t.Errorf("HEAD body is %d bytes, want 0", rec.Body.Len())
	}
	if rec.Header().Get("Content-Length") == "" {
		t.Error("HEAD missing Content-Length")
	}
}

func TestNotFound(t *testing.T) {
	for _, path := range []string{
		"/nope",
		"/graphiql/nope.js",
		"/graphiql/graphiql.js/",
		"/graphiql.js",
		"/graphiql//",
		"/graphql",
	} {
		rec := do(t, http.MethodGet, path)
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s status = %d, want 404", path, rec.Code)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	for _, path := range []string{"/", "/graphiql/", "/graphiql/graphiql.js", "/graphiql/graphiql.css"} {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			rec := do(t, method, path)
			if rec.Code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s status = %d, want 405", method, path, rec.Code)
			}
			if allow := rec.Header().Get("Allow"); allow != "GET, HEAD" {
				t.Errorf("%s %s Allow = %q, want %q", method, path, allow, "GET, HEAD")
			}
		}
	}
}

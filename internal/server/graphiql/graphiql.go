// Package graphiql serves an offline GraphiQL IDE for the clnd GraphQL API.
//
// The JavaScript and CSS are bundled ahead of time with esbuild from the npm
// project in this directory (see package.json; rebuild with
// `npm ci && npm run build`) and embedded into the binary, so the page works
// without any network access beyond the clnd server itself.
package graphiql

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"
)

var (
	//go:embed dist/graphiql.js
	graphiqlJS []byte

	//go:embed dist/graphiql.css
	graphiqlCSS []byte
)

const indexHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>clnd GraphiQL</title>
<link rel="stylesheet" href="/graphiql/graphiql.css">
<style>html,body{margin:0;padding:0;height:100%;overflow:hidden}</style>
</head>
<body>
<div id="graphiql" style="height:100vh"></div>
<script src="/graphiql/graphiql.js"></script>
</body>
</html>
`

const assetCacheControl = "public, max-age=3600"

type asset struct {
	contentType string
	etag        string
	body        []byte
}

func newAsset(contentType string, body []byte) asset {
	sum := sha256.Sum256(body)
	return asset{
		contentType: contentType,
		etag:        `"` + hex.EncodeToString(sum[:16]) + `"`,
		body:        body,
	}
}

var assets = map[string]asset{
	"/graphiql/graphiql.js":  newAsset("application/javascript; charset=utf-8", graphiqlJS),
	"/graphiql/graphiql.css": newAsset("text/css; charset=utf-8", graphiqlCSS),
}

// Handler returns an http.Handler serving the GraphiQL page and its assets.
//
// It routes on r.URL.Path itself, so it can be mounted at "/" and at the
// "/graphiql/" prefix without stripping:
//
//	"/", "/graphiql", "/graphiql/" -> HTML page
//	"/graphiql/graphiql.js"        -> embedded JavaScript bundle
//	"/graphiql/graphiql.css"       -> embedded stylesheet
//
// Any other path is 404. Only GET and HEAD are allowed (405 otherwise).
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	isPage := path == "/" || path == "/graphiql" || path == "/graphiql/"
	a, isAsset := assets[path]
	if !isPage && !isAsset {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}

	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if isPage {
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader([]byte(indexHTML)))
		return
	}
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", assetCacheControl)
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

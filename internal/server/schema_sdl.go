package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/vektah/gqlparser/v2/formatter"

	"clnd/graph/generated"
)

// SchemaPath serves the schema in SDL, for client code generators. It needs
// no credential: introspection answers the same to anyone, and GraphiQL
// shows it on the public page.
const SchemaPath = "/schema.graphql"

// schemaSDL is the executable schema (descriptions and directives
// included, built-in types left out) as gqlparser's formatter prints it:
// types in name order, so the text changes only when the schema does.
func schemaSDL() []byte {
	var buf bytes.Buffer
	formatter.NewFormatter(&buf, formatter.WithIndent("  ")).FormatSchema(generated.NewExecutableSchema(generated.Config{}).Schema())
	return buf.Bytes()
}

// schemaHandler answers with the SDL, formatted once at start. Its ETag
// lets a generator that polls skip an unchanged schema (304).
func schemaHandler() http.Handler {
	sdl := schemaSDL()
	sum := sha256.Sum256(sdl)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", "no-cache") // revalidate: it changes with each release
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(sdl))
	})
}

package sqlgraph_test

import (
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"

	"clnd/graph/generated"
	"clnd/internal/invoicepdf"
	"clnd/internal/licensing"
	"clnd/internal/sqlgraph"
	"clnd/internal/viewer"
)

// BenchmarkCompile measures compiling the README's reads (no database):
// the Go work a compiled request adds to gqlgen's parsing and validation.
func BenchmarkCompile(b *testing.B) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	c := sqlgraph.New(72*time.Hour, licensing.BackupLinks{Secret: []byte("x")}, invoicepdf.Links{Secret: []byte("y")})
	for name, doc := range map[string]string{"W1": fixedDocuments[0], "W2": fixedDocuments[1], "W3": fixedDocuments[2]} {
		b.Run(name, func(b *testing.B) {
			q, errs := gqlparser.LoadQuery(schema, doc)
			if errs != nil {
				b.Fatal(errs)
			}
			op := &graphql.OperationContext{RawQuery: doc, Doc: q, Operation: q.Operations[0], Variables: map[string]any{}}
			req := &sqlgraph.Request{Viewer: viewer.Viewer{Role: viewer.Reseller, ResellerID: "rsl_01M8ED88RTHEEYG9EVWD6KMDB5"}, Now: time.Now(), Op: op}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := c.CompileOperation(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

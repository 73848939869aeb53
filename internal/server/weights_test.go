package server

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"clnd/graph/generated"
)

// computedWithoutStatements are the resolver-backed fields that compute their
// value in memory (or from a value read once per operation), so they weigh 1.
var computedWithoutStatements = map[string]bool{
	"Reseller.autopayment": true, // the reseller's own columns
	"IPLicense.status":     true, // lastCheckIn and the clock
	"Backup.monthlyPrice":  true, // the price per GB is read once per operation
	"Backup.managementURL": true, // signed in memory
	"Invoice.downloadURL":  true, // built from the id
	"Checkout.redirectURL": true, // built from the id
	// History edges (graph/history.go) are ent edges loaded with their page
	// like any other; only a row removed since is read again by its id.
	"Backup.license":            true,
	"InvoiceItem.license":       true,
	"InvoiceItem.serverAccount": true,
	"InvoiceItem.backup":        true,
}

// Every field of an object type that has its own resolver either has a
// weight or is known to run no statement, so a new computed field that runs
// queries cannot be left at the weight of a column.
func TestEveryComputedFieldHasAWeight(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	files, err := filepath.Glob("../../graph/*.resolvers.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no resolvers found: %v", err)
	}
	seen := 0
	for _, file := range files {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || len(fn.Recv.List) != 1 {
				continue
			}
			star, ok := fn.Recv.List[0].Type.(*ast.StarExpr)
			if !ok {
				continue
			}
			recv, _ := star.X.(*ast.Ident)
			if recv == nil || !strings.HasSuffix(recv.Name, "Resolver") {
				continue
			}
			typeName := strings.TrimSuffix(recv.Name, "Resolver") // Resolver itself: ""
			if typeName == "" || typeName == "query" || typeName == "mutation" || typeName == "subscription" {
				continue // root fields: connections carry their page size, aggregates are listed
			}
			field, connection := typeName+"."+fn.Name.Name, false
			for _, def := range schema.Types {
				if strings.EqualFold(def.Name, typeName) {
					for _, fd := range def.Fields {
						if strings.EqualFold(fd.Name, fn.Name.Name) {
							field, connection = def.Name+"."+fd.Name, isConnection(fd)
						}
					}
				}
			}
			if connection {
				continue // weighed by its page size
			}
			seen++
			if fieldWeights[field] == 0 && !computedWithoutStatements[field] {
				t.Errorf("%s has a resolver (%s): give it a weight in fieldWeights, or list it in computedWithoutStatements if it runs no statement", field, filepath.Base(file))
			}
		}
	}
	if seen < len(computedWithoutStatements) {
		t.Fatalf("found only %d object-type resolvers", seen)
	}
}

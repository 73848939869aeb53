package sqlgraph

import (
	"time"

	"clnd/internal/checkout"
	"clnd/internal/invoicepdf"
	"clnd/internal/licensing"
)

// Statement is a compiled root field, or a whole query operation: run Query
// with Bind's arguments; its one row holds a column per root field (Keys, in the
// response's order; one unnamed column for Compile), each the field's JSON,
// to be passed through Finish. A NULL column means "not found here": run the
// field on gqlgen for its answer and error.
type Statement struct {
	Query string
	Keys  []string
	// args are the parameters, late ones (lateArg) still to bind.
	args []any
	// placeholders is set when the JSON holds placeholders (cursors,
	// signed links) for Finish to fill in.
	placeholders bool
	links        licensing.BackupLinks
	invoiceLinks invoicepdf.Links
	staleAfter   time.Duration
}

// Bind is the statement's arguments for one request.
func (s *Statement) Bind(req *Request) []any {
	args := make([]any, len(s.args))
	for i, a := range s.args {
		switch a {
		case lateStaleCutoff:
			args[i] = staleCutoff(req.Now, s.staleAfter)
		case lateOrigin:
			args[i] = req.Origin
		case lateCheckoutBase:
			args[i] = req.Origin + checkout.SandboxPath
		default:
			args[i] = a
		}
	}
	return args
}

// Assemble writes the data object of a whole operation from its columns,
// each already through Finish.
func (s *Statement) Assemble(cols [][]byte) []byte {
	n := 2
	for i, c := range cols {
		n += len(s.Keys[i]) + len(c) + 4
	}
	out := make([]byte, 0, n)
	out = append(out, '{')
	for i, c := range cols {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, s.Keys[i]...) // a GraphQL name: nothing to escape
		out = append(out, '"', ':')
		out = append(out, c...)
	}
	return append(out, '}')
}

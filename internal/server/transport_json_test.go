package server

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Data is copied as it is, whitespace included (a compiled root field's
// JSON comes from PostgreSQL), and the other members keep gqlgen's order.
func TestWriteResponseCopiesData(t *testing.T) {
	hasNext := false
	for _, tc := range []struct {
		resp graphql.Response
		want string
	}{
		{graphql.Response{Data: json.RawMessage(`{"a" : 1, "b": [ {"c":"<&>"} ]}`)},
			`{"data":{"a" : 1, "b": [ {"c":"<&>"} ]}}`},
		{graphql.Response{}, `{"data":null}`},
		{graphql.Response{
			Errors:     gqlerror.List{{Message: "no", Extensions: map[string]any{"code": "NOT_FOUND"}}},
			Data:       json.RawMessage(`{"x" :null}`),
			Label:      "l",
			HasNext:    &hasNext,
			Extensions: map[string]any{"cost": 3},
		}, `{"errors":[{"message":"no","extensions":{"code":"NOT_FOUND"}}],"data":{"x" :null},"label":"l","hasNext":false,"extensions":{"cost":3}}`},
	} {
		rec := httptest.NewRecorder()
		writeResponse(rec, &tc.resp)
		if got := rec.Body.String(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Errorf("not valid JSON: %s", rec.Body)
		}
	}
}

// For gqlgen's own (compact) data the body is what gqlgen's json.Marshal
// wrote, but for the HTML escaping that json.Marshal adds.
func TestWriteResponseMatchesGqlgen(t *testing.T) {
	resp := &graphql.Response{
		Errors:     gqlerror.List{{Message: "a <b>", Path: ast.Path{ast.PathName("x"), ast.PathIndex(0)}, Extensions: map[string]any{"code": "BAD_USER_INPUT", "field": "ip"}}},
		Data:       json.RawMessage(`{"x":[{"s":"a\"b\\c\u0001 <i>"},null,1.5,true]}`),
		Extensions: map[string]any{"z": 1, "a": []string{"q"}},
	}
	want, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	writeResponse(rec, resp)
	var got bytes.Buffer
	json.HTMLEscape(&got, rec.Body.Bytes())
	if got.String() != string(want) {
		t.Errorf("got  %s\nwant %s", got.String(), want)
	}
}

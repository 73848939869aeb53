package server_test

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"clnd/internal/apitest"
)

// get fetches path from the instance with the given headers.
func get(t *testing.T, e *apitest.Env, path string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.Server.URL+path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// Queries and mutations are timed by operation name, compiled reads (on
// PostgreSQL) as well as gqlgen's; unnamed operations are "anonymous".
func TestOperationDurationsByName(t *testing.T) {
	apitest.Each(t, func(t *testing.T, e *apitest.Env) {
		for i := 0; i < 2; i++ {
			e.Query("", `query Clock { clock { sandbox } }`, nil, nil)
		}
		e.Query("", `{ clock { sandbox } }`, nil, nil)
		e.Query(e.OperatorToken, `query Licenses { ipLicenses(first: 1) { totalCount } }`, nil, nil)
		e.Expect("UNAUTHENTICATED", "", "", `query Denied { ipLicenses(first: 1) { totalCount } }`, nil)
		_, body := get(t, e, "/metrics", nil)
		for _, series := range []string{
			`clnd_graphql_operation_duration_seconds_count{operation="Clock",type="query"} 2`,
			`clnd_graphql_operation_duration_seconds_count{operation="anonymous",type="query"} 1`,
			`clnd_graphql_operation_duration_seconds_count{operation="Licenses",type="query"} 1`,
			`clnd_graphql_operation_duration_seconds_count{operation="Denied",type="query"} 1`,
			`clnd_graphql_errors_total{code="UNAUTHENTICATED"} 1`,
		} {
			if !strings.Contains(body, series) {
				t.Errorf("/metrics lacks %s", series)
			}
		}
		if t.Failed() {
			t.Logf("/metrics:\n%s", grepLines(body, "clnd_graphql_"))
		}
	})
}

// Operation names come from clients: past the first 200 they are "other",
// so a client inventing names cannot grow the series without bound.
func TestOperationNamesAreBounded(t *testing.T) {
	e := apitest.New(t, "sqlite")
	for i := 0; i < 205; i++ {
		e.Query("", fmt.Sprintf(`query Op%d { clock { sandbox } }`, i), nil, nil)
	}
	e.Query("", `query `+strings.Repeat("Long", 30)+` { clock { sandbox } }`, nil, nil)
	_, body := get(t, e, "/metrics", nil)
	names := regexp.MustCompile(`clnd_graphql_operation_duration_seconds_count\{operation="([^"]+)"`).FindAllStringSubmatch(body, -1)
	if len(names) != 201 {
		t.Fatalf("%d operation names in /metrics, want 200 and other", len(names))
	}
	if !strings.Contains(body, `clnd_graphql_operation_duration_seconds_count{operation="other",type="query"} 6`) {
		t.Fatalf("the names past the cap are not counted as other:\n%s", grepLines(body, `operation="other"`))
	}
}

// Requests refused for their credential are counted by why.
func TestUnauthenticatedRequestsAreCounted(t *testing.T) {
	e := apitest.New(t, "sqlite")
	for _, auth := range []string{"Basic dXNlcjpwYXNz", "Bearer clnd_op_not_a_token", "Bearer clnd_op_not_a_token_either"} {
		r := e.Do(apitest.Request{Query: `{ clock { sandbox } }`, Header: map[string]string{"Authorization": auth}})
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("%s answered %d", auth, r.Status)
		}
	}
	_, body := get(t, e, "/metrics", nil)
	for _, series := range []string{
		`clnd_unauthenticated_requests_total{reason="malformed"} 1`,
		`clnd_unauthenticated_requests_total{reason="invalid_token"} 2`,
	} {
		if !strings.Contains(body, series) {
			t.Errorf("/metrics lacks %s:\n%s", series, grepLines(body, "clnd_unauthenticated"))
		}
	}
}

// GET /schema.graphql is the schema in SDL, without a credential: the same
// types as introspection, parseable by a client's tools, and revalidated
// by its ETag.
func TestSchemaSDL(t *testing.T) {
	e := apitest.New(t, "sqlite")
	resp, sdl := get(t, e, "/schema.graphql", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("GET /schema.graphql: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	schema, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: sdl})
	if err != nil {
		t.Fatalf("the SDL does not load: %v", err)
	}
	var introspected struct {
		Schema struct {
			Types []struct{ Name, Description string }
		} `json:"__schema"`
	}
	e.Query("", `{ __schema { types { name description } } }`, nil, &introspected)
	for _, typ := range introspected.Schema.Types {
		def := schema.Types[typ.Name]
		if def == nil {
			t.Errorf("type %s is not in the SDL", typ.Name)
		} else if !strings.HasPrefix(typ.Name, "__") && def.Description != typ.Description {
			t.Errorf("type %s: SDL description %q, introspection %q", typ.Name, def.Description, typ.Description)
		}
	}
	if schema.Query == nil || schema.Mutation == nil || schema.Subscription == nil {
		t.Fatal("the SDL lacks a root type")
	}
	if resp, _ := get(t, e, "/schema.graphql", map[string]string{"If-None-Match": resp.Header.Get("ETag")}); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("an unchanged schema with its ETag answered %d", resp.StatusCode)
	}
	post, err := e.Server.Client().Post(e.Server.URL+"/schema.graphql", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /schema.graphql answered %d", post.StatusCode)
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

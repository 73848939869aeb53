package server_test

import (
	"fmt"
	"strings"
	"testing"

	"clnd/internal/apitest"
)

// graphiqlIntrospection is graphql-js's getIntrospectionQuery(), what GraphiQL sends.
const graphiqlIntrospection = `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}`

func TestIntrospection(t *testing.T) {
	e := apitest.New(t, "sqlite")
	// GraphiQL's own schema query works without a token.
	r := e.Do(apitest.Request{Query: graphiqlIntrospection})
	if len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"IPLicense"`) {
		t.Fatalf("introspection: %s", r.Raw[:min(len(r.Raw), 500)])
	}
	// But introspection is not free: a thousand copies of it are refused.
	var q strings.Builder
	q.WriteString("{")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&q, " a%d: __schema { types { name fields { name type { name } } } }", i)
	}
	q.WriteString(" }")
	e.Expect("QUERY_TOO_COMPLEX", "", "", q.String(), nil)
}

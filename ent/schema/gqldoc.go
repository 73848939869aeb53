package schema

// The GraphQL schema is the dashboard developer's manual. Field and edge
// descriptions are ent's Comment(), type descriptions are the types'
// schema.Comment annotation; these two annotations carry the rest, and
// ent/entc.go's schema hook copies all of them into graph/ent.graphqls.
// graph/descriptions_test.go fails when something arrives undescribed.

// enumDoc describes an enum field's type (the "" key) and each of its values.
type enumDoc map[string]string

func (enumDoc) Name() string { return "GQLEnumDoc" }

// orderDoc describes a field's value in its type's <T>OrderField enum.
type orderDoc string

func (orderDoc) Name() string { return "GQLOrderDoc" }

//go:build ignore

// entc.go configures ent's code generation; `make generate` runs it before gqlgen.
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"strings"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
	"github.com/vektah/gqlparser/v2/ast"

	sqlgraphgen "clnd/internal/sqlgraph/gen"
)

func main() {
	ex, err := entgql.NewExtension(
		entgql.WithSchemaGenerator(),
		entgql.WithWhereInputs(true),
		entgql.WithSchemaPath("../graph/ent.graphqls"),
		entgql.WithConfigPath("../gqlgen.yml"),
		entgql.WithNodeDescriptor(false),
		entgql.WithSchemaHook(describe),
	)
	if err != nil {
		log.Fatalf("creating entgql extension: %v", err)
	}
	err = entc.Generate("./schema", &gen.Config{
		Features: []gen.Feature{
			gen.FeatureIntercept,
			gen.FeatureNamedEdges,
			gen.FeatureLock,
			gen.FeatureModifier,
			gen.FeatureExecQuery,
			gen.FeatureUpsert,
		},
		// The read compiler's table of types, columns and edges.
		Hooks: []gen.Hook{sqlgraphgen.Hook("../internal/sqlgraph/schema_gen.go")},
	}, entc.Extensions(ex), entc.TemplateFiles("template/sqltx.tmpl"))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}

// describe copies into the GraphQL schema the descriptions entgql does not
// carry by itself (ent/schema/gqldoc.go): a type's schema.Comment, an enum
// field's enumDoc and an order field's orderDoc.
func describe(g *gen.Graph, s *ast.Schema) error {
	for _, n := range g.Nodes {
		var nodeAnt entgql.Annotation
		if err := decode(n.Annotations, nodeAnt.Name(), &nodeAnt); err != nil {
			return err
		}
		gqlType := n.Name
		if nodeAnt.Type != "" {
			gqlType = nodeAnt.Type
		}
		var comment struct{ Text string }
		if err := decode(n.Annotations, "Comment", &comment); err != nil {
			return err
		}
		if def := s.Types[gqlType]; def != nil && comment.Text != "" {
			def.Description = comment.Text
		}
		// entgql drops an edge's Comment when the edge is a connection.
		for _, e := range n.Edges {
			if def := s.Types[gqlType]; def != nil && e.Comment() != "" {
				if f := def.Fields.ForName(lowerCamel(e.Name)); f != nil && f.Description == "" {
					f.Description = e.Comment()
				}
			}
		}
		for _, f := range n.Fields {
			var ant entgql.Annotation
			if err := decode(f.Annotations, ant.Name(), &ant); err != nil {
				return err
			}
			var values map[string]string
			if err := decode(f.Annotations, "GQLEnumDoc", &values); err != nil {
				return err
			}
			if values != nil {
				enum := ant.Type
				if enum == "" {
					enum = gqlType + f.StructField()
				}
				if err := describeEnum(s.Types[enum], enum, values); err != nil {
					return fmt.Errorf("%s.%s: %w", n.Name, f.Name, err)
				}
			}
			var order string
			if err := decode(f.Annotations, "GQLOrderDoc", &order); err != nil {
				return err
			}
			if order != "" && ant.OrderField != "" {
				if def := s.Types[gqlType+"OrderField"]; def != nil {
					if v := def.EnumValues.ForName(ant.OrderField); v != nil {
						v.Description = order
					}
				}
			}
		}
	}
	// entgql declares Query here, and an `extend type Query` in graph/*.graphqls
	// cannot carry its description.
	if q := s.Types["Query"]; q != nil && q.Description == "" {
		q.Description = "Reads. A reseller sees only its own data; an operator sees every reseller's."
	}
	return nil
}

// lowerCamel is entgql's GraphQL name of an edge: "ip_licenses" -> "ipLicenses".
func lowerCamel(name string) string {
	parts := strings.Split(name, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

func describeEnum(def *ast.Definition, name string, values map[string]string) error {
	if def == nil {
		return nil // defined by another field of the same enum, or skipped
	}
	if d := values[""]; d != "" {
		def.Description = d
	}
	for _, v := range def.EnumValues {
		if d, ok := values[v.Name]; ok {
			v.Description = d
		}
	}
	for k := range values {
		if k != "" && def.EnumValues.ForName(k) == nil {
			return fmt.Errorf("enumDoc describes %s.%s, which does not exist", name, k)
		}
	}
	return nil
}

// decode reads annotation name, which entc hands over as decoded JSON.
func decode(annotations gen.Annotations, name string, v any) error {
	a, ok := annotations[name]
	if !ok || a == nil {
		return nil
	}
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

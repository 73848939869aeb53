package graph

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"clnd/graph/generated"
)

// The schema is the dashboard developer's manual: GraphiQL's docs pane and
// client code generators show these descriptions. Every type, field,
// argument, input field and enum value clnd defines must carry one.
//
// Left out: gqlparser's built-ins (String, __Type, @skip, ...), gqlgen's
// @goModel/@goField directives (not served), and the input fields of the
// *WhereInput types, whose operators entgql generates by the dozen
// ("ipHasPrefix", "createdAtGTE", ...) and whose meaning is their name. The
// WhereInput types themselves are described.
func TestEveryDefinitionHasADescription(t *testing.T) {
	missing := undescribed(generated.NewExecutableSchema(generated.Config{}).Schema())
	if len(missing) == 0 {
		return
	}
	counts := map[string]int{}
	for _, m := range missing {
		counts[m.kind]++
	}
	lines := make([]string, len(missing))
	for i, m := range missing {
		lines[i] = fmt.Sprintf("  %-11s %s", m.kind, m.path)
	}
	t.Errorf("%d schema definitions have no description (%d types, %d fields, %d arguments, %d input fields, %d enum values, %d directives);\n"+
		"describe them in ent/schema (Comment, entgql annotations) or graph/*.graphqls and run make generate:\n%s",
		len(missing), counts["type"], counts["field"], counts["argument"], counts["inputfield"], counts["enumvalue"], counts["directive"],
		strings.Join(lines, "\n"))
}

// The test must catch what it is for: an undescribed field, argument and enum
// value in a schema of its own.
func TestUndescribedFindsBareDefinitions(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	bare := &ast.Definition{
		Kind: ast.Object, Name: "Bare", Description: "A type with a bare field.",
		Fields: ast.FieldList{{
			Name: "field", Type: ast.NamedType("String", nil),
			Arguments: ast.ArgumentDefinitionList{{Name: "arg", Type: ast.NamedType("Int", nil)}},
		}},
	}
	enum := &ast.Definition{Kind: ast.Enum, Name: "BareEnum", Description: "An enum with a bare value.",
		EnumValues: ast.EnumValueList{{Name: "BARE"}}}
	where := &ast.Definition{Kind: ast.InputObject, Name: "BareWhereInput", Description: "Filters.",
		Fields: ast.FieldList{{Name: "idGT", Type: ast.NamedType("ID", nil)}}}
	types := map[string]*ast.Definition{}
	for name, def := range schema.Types {
		types[name] = def
	}
	types[bare.Name], types[enum.Name], types[where.Name] = bare, enum, where
	copied := *schema
	copied.Types = types
	got := map[string]bool{}
	for _, m := range undescribed(&copied) {
		got[m.path] = true
	}
	for _, want := range []string{"Bare.field", "Bare.field(arg)", "BareEnum.BARE"} {
		if !got[want] {
			t.Errorf("undescribed misses %s", want)
		}
	}
	if got["BareWhereInput.idGT"] {
		t.Errorf("undescribed reports a WhereInput operator")
	}
}

type missingDescription struct{ kind, path string }

func undescribed(schema *ast.Schema) []missingDescription {
	var out []missingDescription
	add := func(kind, path, desc string) {
		if strings.TrimSpace(desc) == "" {
			out = append(out, missingDescription{kind, path})
		}
	}
	for _, def := range schema.Types {
		if def.BuiltIn || strings.HasPrefix(def.Name, "__") {
			continue
		}
		add("type", def.Name, def.Description)
		switch def.Kind {
		case ast.Object, ast.Interface:
			for _, f := range def.Fields {
				if strings.HasPrefix(f.Name, "__") {
					continue
				}
				add("field", def.Name+"."+f.Name, f.Description)
				for _, a := range f.Arguments {
					add("argument", def.Name+"."+f.Name+"("+a.Name+")", a.Description)
				}
			}
		case ast.InputObject:
			if strings.HasSuffix(def.Name, "WhereInput") {
				continue
			}
			for _, f := range def.Fields {
				add("inputfield", def.Name+"."+f.Name, f.Description)
			}
		case ast.Enum:
			for _, v := range def.EnumValues {
				add("enumvalue", def.Name+"."+v.Name, v.Description)
			}
		}
	}
	for _, d := range schema.Directives {
		if d.Position != nil && d.Position.Src != nil && d.Position.Src.BuiltIn {
			continue
		}
		if d.Name == "goModel" || d.Name == "goField" {
			continue
		}
		add("directive", "@"+d.Name, d.Description)
		for _, a := range d.Arguments {
			add("argument", "@"+d.Name+"("+a.Name+")", a.Description)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

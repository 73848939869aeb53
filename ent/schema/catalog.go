package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"clnd/internal/catalog"
	"clnd/internal/money"
)

// Product is one license type with its operator-set monthly price.
type Product struct{ ent.Schema }

func (Product) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("prd", "products")}
}

func (Product) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("type").
			GoType(catalog.LicenseType("")).
			Immutable().
			Comment("The license type this product sells.").
			Annotations(entgql.Type("LicenseType")),
		field.String("name").NotEmpty().Comment("The product's name, as invoices show it."),
		field.Enum("family").
			GoType(catalog.Family("")).
			Immutable().
			Comment("The product family; one address holds at most one license per family.").
			Annotations(entgql.Type("ProductFamily"), enumDoc{
				"":           "A product family. One IP address holds at most one license of each family, across all resellers.",
				"CLOUDLINUX": "CloudLinux OS products.",
				"IMUNIFY":    "Imunify security products.",
				"KERNELCARE": "KernelCare live-patching products.",
			}),
		field.Int("cln_type_code").Immutable().Comment("The license type's code in CloudLinux Network (CLOUDLINUX_OS is 1)."),
		field.Int64("monthly_price").
			GoType(money.Cents(0)).
			Min(0).
			Comment("The price of one license for a full month, in US dollars; set by the operator (setProductPrice).").
			Annotations(entgql.Type("Money")),
	}
}

func (Product) Indexes() []ent.Index {
	return []ent.Index{index.Fields("type").Unique()}
}

func (Product) Hooks() []ent.Hook { return catalogue.hooks() }

func (Product) Annotations() []schema.Annotation {
	return []schema.Annotation{
		catalogue, entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
		schema.Comment("A license type on sale, with its current monthly price."),
	}
}

// Datacenter is where a backup is stored.
type Datacenter struct{ ent.Schema }

func (Datacenter) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("dcn", "datacenters")}
}

func (Datacenter) Fields() []ent.Field {
	return []ent.Field{
		// Query.datacenters lists them by code.
		field.String("code").NotEmpty().Annotations(bytewise()).Comment("The short code activateBackup takes, such as \"us-east\"."),
		field.String("name").NotEmpty().Comment("The datacenter's name for people."),
	}
}

func (Datacenter) Indexes() []ent.Index {
	return []ent.Index{index.Fields("code").Unique()}
}

func (Datacenter) Hooks() []ent.Hook { return catalogue.hooks() }

func (Datacenter) Annotations() []schema.Annotation {
	return []schema.Annotation{
		catalogue, entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
		schema.Comment("A place backups are stored."),
	}
}

// Setting is one operator-editable or system value (the backup price per
// GB-month, the sandbox clock), kept as text under a unique key.
type Setting struct{ ent.Schema }

func (Setting) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").Immutable().NotEmpty(),
		field.String("value"),
	}
}

func (Setting) Hooks() []ent.Hook { return catalogue.hooks() }

func (Setting) Annotations() []schema.Annotation {
	return []schema.Annotation{catalogue, entgql.Skip(entgql.SkipAll)}
}

// PriceChange records one change of a product's monthly price, so that a
// license added in the past (importIPLicenses) is billed at the price in
// effect on each day since, as a license added then would have been.
type PriceChange struct{ ent.Schema }

func (PriceChange) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("prc", "price_changes")}
}

func (PriceChange) Fields() []ent.Field {
	return []ent.Field{
		field.String("product_id").Immutable().NotEmpty(),
		field.Int64("old_price").GoType(money.Cents(0)).Immutable(),
		field.Int64("new_price").GoType(money.Cents(0)).Immutable(),
		field.Time("changed_at").Immutable(),
	}
}

func (PriceChange) Indexes() []ent.Index {
	return []ent.Index{index.Fields("product_id", "changed_at")}
}

func (PriceChange) Hooks() []ent.Hook { return catalogue.hooks() }

func (PriceChange) Annotations() []schema.Annotation {
	return []schema.Annotation{catalogue, entgql.Skip(entgql.SkipAll)}
}

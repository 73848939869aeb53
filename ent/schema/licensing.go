package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"clnd/internal/catalog"
)

// IPLicense licenses one product for a server identified by its public IP.
type IPLicense struct{ ent.Schema }

func (IPLicense) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("ipl", "ip_licenses"), createdAtMixin{}, tenantMixin{}, removedAtMixin{}}
}

func (IPLicense) Fields() []ent.Field {
	return []ent.Field{
		// Canonical text form (net/netip), so equal addresses compare equal.
		field.String("ip").
			Immutable().
			NotEmpty().
			Comment("The licensed server's public IPv4 or IPv6 address, in canonical form.").
			Annotations(entgql.OrderField("IP"), bytewise(), orderDoc("By address text, byte order.")),
		field.Enum("type").
			GoType(catalog.LicenseType("")).
			Immutable().
			Comment("The licensed product.").
			Annotations(entgql.Type("LicenseType"), enumDoc{
				"":                           "A license type, with its CloudLinux Network type code as Product.clnTypeCode.",
				"CLOUDLINUX_OS":              "CloudLinux OS (CLN type 1).",
				"CLOUDLINUX_SOLO":            "CloudLinux OS Solo (CLN type 4).",
				"KERNELCARE":                 "KernelCare (CLN type 16).",
				"KERNELCARE_PLUS":            "KernelCare+ (CLN type 17).",
				"IMUNIFYAV_PLUS":             "ImunifyAV+ (CLN type 40).",
				"IMUNIFY360_SINGLE_USER":     "Imunify360 for a single user (CLN type 41).",
				"IMUNIFY360_UP_TO_30_USERS":  "Imunify360 for up to 30 users (CLN type 42).",
				"IMUNIFY360_UP_TO_250_USERS": "Imunify360 for up to 250 users (CLN type 43).",
				"IMUNIFY360_UNLIMITED":       "Imunify360 for unlimited users (CLN type 49).",
			}),
		// Denormalised from the product so that the unique index can enforce
		// "one license per address and product family" in the database.
		field.Enum("family").
			GoType(catalog.Family("")).
			Immutable().
			Annotations(entgql.Type("ProductFamily"), entgql.Skip(entgql.SkipType, entgql.SkipOrderField)),
		field.String("hostname").
			Default("").
			Comment("The server's host name as last given or reported by a check-in; may be empty.").
			Annotations(entgql.OrderField("HOSTNAME"), bytewise(), orderDoc("By host name, byte order (case-sensitive).")),
		field.String("product_id").
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("last_check_in").
			Optional().
			Nillable().
			Comment("When the server last checked in; null if it never has.").
			Annotations(entgql.OrderField("LAST_CHECK_IN"), orderDoc("By last check-in; licenses that never checked in sort before every time (first in ASC, last in DESC).")),
		// The last_check_in a license.stale event was written for: the
		// stale sweep (internal/events) writes one event per silence.
		field.Time("stale_event_for").
			Optional().
			Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (IPLicense) Edges() []ent.Edge {
	return []ent.Edge{
		resellerEdge("ip_licenses"),
		edge.To("product", Product.Type).
			Field("product_id").
			Unique().
			Required().
			Immutable().
			Comment("The licensed product, with its current price."),
		// The live backup (Backup.live_license_id); removed ones keep
		// only Backup.license.
		edge.To("backup", Backup.Type).
			Unique().
			Comment("The license's live backup storage; null without one."),
	}
}

func (IPLicense) Indexes() []ent.Index {
	return []ent.Index{
		// One live license per address and family; removed ones keep their address.
		index.Fields("ip", "family").Unique().Annotations(liveOnly()),
		index.Fields("reseller_id", "created_at"),
		index.Fields("reseller_id", "type"),
	}
}

func (IPLicense) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("A license of one product for a server identified by its public IP address, billed monthly from the reseller's deposit."),
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// Backup is backup storage attached to an IP license.
type Backup struct{ ent.Schema }

func (Backup) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("bkp", "backups"), createdAtMixin{}, tenantMixin{}, removedAtMixin{}}
}

func (Backup) Fields() []ent.Field {
	return []ent.Field{
		field.Int("size_gb").Positive().Comment("The storage size in GB, billed per GB-month at backupPricePerGB."),
		// The license the backup belongs to, for as long as the backup exists.
		field.String("license_id").
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		// The same license while the backup is live, NULL once it is removed:
		// the column of IPLicense.backup, so that a license has at most one
		// live backup and may have many removed ones.
		field.String("live_license_id").
			Optional().
			Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("datacenter_id").
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (Backup) Edges() []ent.Edge {
	return []ent.Edge{
		resellerEdge("backups"),
		// History: a backup belongs to its license for good (the field is
		// non-null), so a removed backup still reaches its removed license.
		edge.To("license", IPLicense.Type).
			Field("license_id").
			Unique().
			Required().
			Immutable().
			Comment("The license the backup belongs to; reached even after either was removed.").
			Annotations(History{}),
		edge.From("live_license", IPLicense.Type).
			Ref("backup").
			Field("live_license_id").
			Unique().
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("datacenter", Datacenter.Type).
			Field("datacenter_id").
			Unique().
			Required().
			Comment("Where the backup is stored."),
	}
}

func (Backup) Indexes() []ent.Index {
	return []ent.Index{index.Fields("license_id")}
}

func (Backup) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("Backup storage for an IP license's server, billed per GB-month."),
		noOrderBy, entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// ServerAccount is a Spacewalk-style account: a license limit that servers
// fill by registering with one of its activation keys.
type ServerAccount struct{ ent.Schema }

func (ServerAccount) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("sac", "server_accounts"), createdAtMixin{}, tenantMixin{}, removedAtMixin{}}
}

func (ServerAccount) Fields() []ent.Field {
	return []ent.Field{
		field.String("login").
			NotEmpty().
			Comment("The account's login, lower-case: 3–64 of a-z 0-9 . _ -, unique without regard to case.").
			Annotations(entgql.OrderField("LOGIN"), bytewise(), orderDoc("By login, byte order.")),
		field.String("first_name").Default("").Comment("The account holder's first name; may be empty."),
		field.String("last_name").Default("").Comment("The account holder's last name; may be empty."),
		field.String("company").Default("").Comment("The account holder's company; may be empty."),
		field.String("email").Default("").Comment("The account holder's email address; may be empty."),
		field.Int("license_limit").
			NonNegative().
			Comment("How many servers may register; billed as this many CLOUDLINUX_OS licenses. Never below usedLicenses.").
			Annotations(entgql.OrderField("LICENSE_LIMIT"), orderDoc("By license limit.")),
		// Registered servers; kept as a counter so that registration can check
		// the limit with one conditional UPDATE.
		field.Int("used_licenses").
			NonNegative().
			Default(0).
			Comment("How many servers are registered."),
	}
}

func (ServerAccount) Edges() []ent.Edge {
	return []ent.Edge{
		resellerEdge("server_accounts"),
		edge.To("keys", ActivationKey.Type).
			Comment("The activation keys servers register with, oldest first.").
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("servers", Server.Type).
			Comment("The servers registered to the account.").
			Annotations(entgql.RelayConnection(), entsql.OnDelete(entsql.Cascade)),
	}
}

func (ServerAccount) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("login").Unique().Annotations(liveOnly()),
		index.Fields("reseller_id", "created_at"),
	}
}

func (ServerAccount) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("A Spacewalk-style account: servers register with its activation keys, up to licenseLimit, which is billed as that many CLOUDLINUX_OS licenses."),
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// ActivationKey is the token a server registers with.
type ActivationKey struct{ ent.Schema }

func (ActivationKey) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("akey", "activation_keys"), createdAtMixin{}, tenantMixin{}}
}

func (ActivationKey) Fields() []ent.Field {
	return []ent.Field{
		// Shown to the reseller in the dashboard, as in CLN, so it is stored as is.
		field.String("token").Immutable().NotEmpty().Comment("The key a server passes to registerServer."),
		// Servers registered with this key.
		field.Int("usage").NonNegative().Default(0).Comment("How many servers registered with this key."),
		field.String("server_account_id").
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (ActivationKey) Edges() []ent.Edge {
	return []ent.Edge{
		resellerEdge("activation_keys"),
		edge.From("server_account", ServerAccount.Type).
			Ref("keys").
			Field("server_account_id").
			Unique().
			Required().
			Immutable().
			Comment("The account whose limit servers registering with this key fill."),
		edge.To("servers", Server.Type).
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (ActivationKey) Indexes() []ent.Index {
	return []ent.Index{index.Fields("token").Unique()}
}

func (ActivationKey) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("A key servers register to a server account with (registerServer)."),
		noOrderBy, entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

// Server is a host registered to a server account with an activation key.
type Server struct{ ent.Schema }

func (Server) Mixin() []ent.Mixin {
	return []ent.Mixin{withID("srv", "servers"), tenantMixin{}}
}

func (Server) Fields() []ent.Field {
	return []ent.Field{
		field.String("hostname").Default("").
			Comment("The host name given at registration or reported by the last check-in.").
			Annotations(entgql.OrderField("HOSTNAME"), bytewise(), orderDoc("By host name, byte order (case-sensitive).")),
		field.String("ip").Default("").Comment("The address given at registration; may be empty."),
		field.Time("registered_at").
			Immutable().
			Comment("When the server registered.").
			Annotations(entgql.OrderField("REGISTERED_AT"), orderDoc("By registration time.")),
		field.Time("last_check_in").
			Optional().
			Nillable().
			Comment("When the server last checked in; null if it never has.").
			Annotations(entgql.OrderField("LAST_CHECK_IN"), orderDoc("By last check-in; servers that never checked in sort before every time (first in ASC, last in DESC).")),
		// SHA-256 of the credential returned once by registerServer.
		field.Bytes("credential_hash").
			Sensitive().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("server_account_id").
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("activation_key_id").
			Optional().
			Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (Server) Edges() []ent.Edge {
	return []ent.Edge{
		resellerEdge("servers"),
		edge.From("server_account", ServerAccount.Type).
			Ref("servers").
			Field("server_account_id").
			Unique().
			Required().
			Immutable().
			Comment("The account the server is registered to."),
		// A removed key leaves its servers registered.
		edge.From("activation_key", ActivationKey.Type).
			Ref("servers").
			Field("activation_key_id").
			Unique().
			Comment("The key it registered with; null once that key was removed."),
	}
}

func (Server) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("credential_hash").Unique(),
		index.Fields("server_account_id", "registered_at"),
	}
}

func (Server) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("A host registered to a server account; it checks in with the credential registerServer returned."),
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
	}
}

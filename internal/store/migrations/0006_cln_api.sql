-- 0006_cln_api: the CLN reseller REST API under /api/ (docs/cln-api.md). cln_secrets holds each
-- reseller's API secrets sealed with CLND_SECRETS_KEY (AES-GCM; the protocol needs the plaintext);
-- cln_token_uses remembers accepted tokens until they expire, so a replayed token is refused on every
-- instance, and counts a secret's requests for its rate limit.
CREATE TABLE "cln_secrets" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "reseller_id" character varying NOT NULL, "sealed" bytea NOT NULL, "last_used_at" timestamptz NULL, PRIMARY KEY ("id"));
CREATE INDEX "clnsecret_reseller_id_created_at" ON "cln_secrets" ("reseller_id", "created_at");
CREATE TABLE "cln_token_uses" ("id" character varying NOT NULL, "secret_id" character varying NOT NULL, "signed_at" bigint NOT NULL, "used_at" timestamptz NOT NULL, "keep_until" timestamptz NOT NULL, PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "clntokenuse_secret_id_signed_at" ON "cln_token_uses" ("secret_id", "signed_at");
CREATE INDEX "clntokenuse_secret_id_used_at" ON "cln_token_uses" ("secret_id", "used_at");
CREATE INDEX "clntokenuse_keep_until" ON "cln_token_uses" ("keep_until");

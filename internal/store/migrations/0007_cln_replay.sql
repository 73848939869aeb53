-- 0007_cln_replay: a CLN API token is refused again only for the same request (docs/cln-api.md, Tokens):
-- clients sign every call of one second alike, so a use is (secret, second, digest of the request).
ALTER TABLE "cln_token_uses" ADD COLUMN "request" character varying NOT NULL DEFAULT '';
DROP INDEX "clntokenuse_secret_id_signed_at";
CREATE UNIQUE INDEX "clntokenuse_secret_id_signed_at_request" ON "cln_token_uses" ("secret_id", "signed_at", "request");

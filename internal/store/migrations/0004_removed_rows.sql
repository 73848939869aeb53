-- 0004_removed_rows: licenses, backups and server accounts are removed by stamping removed_at, not
-- deleted, so that the invoice items that billed them still point at them (ent/schema/removal.go).
-- Every existing row is live. The unique rules hold among live rows only: an address or a login is
-- free again once its holder is removed, and a license has at most one live backup
-- (backups.live_license_id, NULL once the backup is removed) beside any number of removed ones.
ALTER TABLE "ip_licenses" ADD COLUMN "removed_at" timestamptz NULL;
DROP INDEX "iplicense_ip_family";
CREATE UNIQUE INDEX "iplicense_ip_family" ON "ip_licenses" ("ip", "family") WHERE removed_at IS NULL;
ALTER TABLE "server_accounts" ADD COLUMN "removed_at" timestamptz NULL;
DROP INDEX "serveraccount_login";
CREATE UNIQUE INDEX "serveraccount_login" ON "server_accounts" ("login") WHERE removed_at IS NULL;
DROP INDEX "backup_license_id";
DROP INDEX "backups_license_id_key";
ALTER TABLE "backups" DROP CONSTRAINT "backups_ip_licenses_backup", ADD COLUMN "removed_at" timestamptz NULL, ADD COLUMN "live_license_id" character varying NULL;
UPDATE "backups" SET "live_license_id" = "license_id";
ALTER TABLE "backups" ADD CONSTRAINT "backups_ip_licenses_backup" FOREIGN KEY ("live_license_id") REFERENCES "ip_licenses" ("id") ON DELETE SET NULL, ADD CONSTRAINT "backups_ip_licenses_license" FOREIGN KEY ("license_id") REFERENCES "ip_licenses" ("id") ON DELETE NO ACTION;
CREATE INDEX "backup_license_id" ON "backups" ("license_id");
CREATE UNIQUE INDEX "backups_live_license_id_key" ON "backups" ("live_license_id");
-- Product price changes from now on, so that an import with an earlier addedAt is billed at the price
-- in effect on each day (changes made before this migration are unknown: today's price applies).
CREATE TABLE "price_changes" ("id" character varying NOT NULL, "product_id" character varying NOT NULL, "old_price" bigint NOT NULL, "new_price" bigint NOT NULL, "changed_at" timestamptz NOT NULL, PRIMARY KEY ("id"));
CREATE INDEX "pricechange_product_id_changed_at" ON "price_changes" ("product_id", "changed_at");

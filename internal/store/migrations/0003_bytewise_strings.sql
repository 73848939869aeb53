-- 0003_bytewise_strings: the string columns lists are ordered by compare by their UTF-8 bytes
-- (COLLATE "C"), as SQLite's BINARY does, whatever the database's default collation
-- (ent/schema/ordering.go, docs/schema.md "Ordering"). Their indexes are rebuilt with them.
ALTER TABLE "ip_licenses" ALTER COLUMN "ip" TYPE character varying COLLATE "C", ALTER COLUMN "hostname" TYPE character varying COLLATE "C";
ALTER TABLE "servers" ALTER COLUMN "hostname" TYPE character varying COLLATE "C";
ALTER TABLE "server_accounts" ALTER COLUMN "login" TYPE character varying COLLATE "C";
ALTER TABLE "resellers" ALTER COLUMN "login" TYPE character varying COLLATE "C", ALTER COLUMN "company" TYPE character varying COLLATE "C";
ALTER TABLE "invoices" ALTER COLUMN "number" TYPE character varying COLLATE "C";
ALTER TABLE "datacenters" ALTER COLUMN "code" TYPE character varying COLLATE "C";

-- 0005_events: the append-only event log, webhook endpoints and their deliveries (ent/schema/events.go;
-- River's own tables are migrated by rivermigrate, internal/store/migrate.go), and the stale sweep's marker.
ALTER TABLE "ip_licenses" ADD COLUMN "stale_event_for" timestamptz NULL;
CREATE TABLE "events" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "reseller_id" character varying NOT NULL, "type" character varying NOT NULL, "object_id" character varying NOT NULL, "object" text NOT NULL, PRIMARY KEY ("id"));
CREATE INDEX "event_reseller_id_created_at_id" ON "events" ("reseller_id", "created_at", "id");
CREATE INDEX "event_created_at_id" ON "events" ("created_at", "id");
CREATE TABLE "webhook_endpoints" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "reseller_id" character varying NOT NULL, "url" character varying NOT NULL, "description" character varying NOT NULL DEFAULT '', "events" text NOT NULL, "enabled" boolean NOT NULL DEFAULT true, "disabled_reason" character varying NOT NULL DEFAULT '', "secret" bytea NOT NULL, "previous_secret" bytea NULL, "previous_secret_expires_at" timestamptz NULL, "failing_since" timestamptz NULL, PRIMARY KEY ("id"));
CREATE INDEX "webhookendpoint_reseller_id" ON "webhook_endpoints" ("reseller_id");
CREATE TABLE "webhook_deliveries" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "reseller_id" character varying NOT NULL, "status" character varying NOT NULL DEFAULT 'PENDING', "attempts" bigint NOT NULL DEFAULT 0, "next_attempt_at" timestamptz NULL, "last_attempt_at" timestamptz NULL, "response_status" bigint NULL, "duration_ms" bigint NULL, "error" character varying NOT NULL DEFAULT '', "delivered_at" timestamptz NULL, "job_id" bigint NULL, "event_id" character varying NOT NULL, "endpoint_id" character varying NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "webhook_deliveries_events_event" FOREIGN KEY ("event_id") REFERENCES "events" ("id") ON DELETE NO ACTION, CONSTRAINT "webhook_deliveries_webhook_endpoints_deliveries" FOREIGN KEY ("endpoint_id") REFERENCES "webhook_endpoints" ("id") ON DELETE NO ACTION);
CREATE INDEX "webhookdelivery_endpoint_id_created_at" ON "webhook_deliveries" ("endpoint_id", "created_at");
CREATE INDEX "webhookdelivery_event_id" ON "webhook_deliveries" ("event_id");
CREATE INDEX "webhookdelivery_status_next_attempt_at" ON "webhook_deliveries" ("status", "next_attempt_at");
CREATE INDEX "webhookdelivery_reseller_id_created_at" ON "webhook_deliveries" ("reseller_id", "created_at");

-- 0007_live_instances: the instances that have check-in subscribers (internal/live/presence.go). An
-- instance NOTIFYs its check-ins for the others only while another instance is listed here; each lists
-- itself, for two minutes at a time, while it has subscribers, and removes itself when they are gone.
CREATE TABLE "live_instances" ("origin" character varying NOT NULL, "until" timestamptz NOT NULL, PRIMARY KEY ("origin"));

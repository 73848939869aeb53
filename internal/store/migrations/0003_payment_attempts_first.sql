-- 0003_payment_attempts_first: every charge and refund is a payment attempt committed before the
-- provider is called; providers' webhook events; the sandbox provider's own memory; PayPal-style
-- checkouts with return pages; the reseller's customer at the card gateway.
ALTER TABLE "checkouts" ADD COLUMN "approve_url" character varying NOT NULL DEFAULT '', ADD COLUMN "return_url" character varying NOT NULL DEFAULT '', ADD COLUMN "cancel_url" character varying NOT NULL DEFAULT '';
ALTER TABLE "resellers" ADD COLUMN "gateway_customer" character varying NOT NULL DEFAULT '';
CREATE TABLE "gateway_events" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "provider" character varying NOT NULL, "event_id" character varying NOT NULL, "type" character varying NOT NULL, "reseller_id" character varying NULL, "reference" character varying NOT NULL DEFAULT '', "amount" bigint NULL, "summary" character varying NOT NULL DEFAULT '', PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "gatewayevent_provider_event_id" ON "gateway_events" ("provider", "event_id");
CREATE INDEX "gatewayevent_created_at" ON "gateway_events" ("created_at");
CREATE TABLE "sandbox_payments" ("id" character varying NOT NULL, "kind" character varying NOT NULL, "ref" character varying NOT NULL, "amount" bigint NOT NULL, "decline" character varying NOT NULL DEFAULT '', "result" character varying NOT NULL DEFAULT '', "approved" boolean NOT NULL DEFAULT false, "created_at" timestamptz NOT NULL, PRIMARY KEY ("id"));
CREATE INDEX "sandboxpayment_kind_ref" ON "sandbox_payments" ("kind", "ref");
-- Attempts recorded before this release were autopayments, settled when written, by the sandbox gateway.
ALTER TABLE "payment_attempts" ALTER COLUMN "status" SET DEFAULT 'PENDING', ADD COLUMN "decline_code" character varying NOT NULL DEFAULT '', ADD COLUMN "gateway" character varying NOT NULL DEFAULT 'sandbox', ADD COLUMN "method_label" character varying NOT NULL DEFAULT '', ADD COLUMN "method_ref" character varying NOT NULL DEFAULT '', ADD COLUMN "customer_ref" character varying NOT NULL DEFAULT '', ADD COLUMN "gateway_ref" character varying NOT NULL DEFAULT '', ADD COLUMN "charge_ref" character varying NOT NULL DEFAULT '', ADD COLUMN "checkout_id" character varying NULL, ADD COLUMN "settled_at" timestamptz NULL, ADD COLUMN "opened_at" timestamptz NULL, ADD COLUMN "next_try_at" timestamptz NULL, ADD COLUMN "tries" bigint NOT NULL DEFAULT 0, ADD COLUMN "refund_of_id" character varying NULL, ADD CONSTRAINT "payment_attempts_transactions_transaction" FOREIGN KEY ("transaction_id") REFERENCES "transactions" ("id") ON DELETE SET NULL, ADD CONSTRAINT "payment_attempts_transactions_refund_of" FOREIGN KEY ("refund_of_id") REFERENCES "transactions" ("id") ON DELETE SET NULL;
UPDATE "payment_attempts" SET "settled_at" = "created_at";
CREATE INDEX "paymentattempt_status_next_try_at" ON "payment_attempts" ("status", "next_try_at");
CREATE INDEX "paymentattempt_refund_of_id" ON "payment_attempts" ("refund_of_id");
CREATE INDEX "paymentattempt_checkout_id" ON "payment_attempts" ("checkout_id");
CREATE INDEX "paymentattempt_transaction_id" ON "payment_attempts" ("transaction_id");

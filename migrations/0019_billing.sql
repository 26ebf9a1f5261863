-- The paid tier's money: a double-entry, append-only ledger in the manner of
-- TigerBeetle, the rate card that prices usage, and top-up orders.
--
-- Amounts are integers in micro-yuan (1 = ¥0.000001): fine enough to price a
-- device-second or a token without fractions. Rounding happens once, when a
-- charge is settled (see hub-core's billing::money).

-- One account per wallet (a user's or an organisation's prepaid credits) and
-- one per system purpose. The four counters are caches of the transfers,
-- kept in the same transaction as the transfer that moves them;
-- `hub billing check` recomputes them from the transfers.
CREATE TABLE ledger_accounts (
    id               BIGSERIAL PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('wallet', 'revenue', 'promo', 'clearing')),
    -- The owner of a wallet. RESTRICT: an account with money history is
    -- never deleted with its owner.
    namespace_id     BIGINT REFERENCES namespaces (id) ON DELETE RESTRICT,
    -- The payment provider a clearing account stands for.
    provider         TEXT,
    debits_pending   BIGINT NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    debits_posted    BIGINT NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_pending  BIGINT NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    credits_posted   BIGINT NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    -- Customers' money: what is held or spent never exceeds what came in.
    -- The ledger's conditional update enforces it under concurrency; this
    -- CHECK is the backstop should any code path forget.
    debits_must_not_exceed_credits BOOLEAN NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (NOT debits_must_not_exceed_credits
           OR debits_pending + debits_posted <= credits_posted),
    CHECK ((kind = 'wallet') = (namespace_id IS NOT NULL)),
    CHECK ((kind = 'clearing') = (provider IS NOT NULL))
);
CREATE UNIQUE INDEX ledger_accounts_wallet ON ledger_accounts (namespace_id) WHERE kind = 'wallet';
CREATE UNIQUE INDEX ledger_accounts_system ON ledger_accounts (kind) WHERE kind IN ('revenue', 'promo');
CREATE UNIQUE INDEX ledger_accounts_clearing ON ledger_accounts (provider) WHERE kind = 'clearing';

-- Transfers are immutable: never updated, never deleted. A mistake is put
-- right by a reversing transfer. The id is chosen by the caller and is the
-- idempotency key: submitting the same transfer again finds it.
--
-- `flow` says what the transfer does:
--   posted  moves `amount` at once;
--   pending reserves `amount` (a hold) until `timeout_at`;
--   post    settles the pending transfer `pending_id` for `amount` (at most
--           the hold; the rest is released);
--   void    releases the pending transfer `pending_id` in full;
--   expire  the same, written by the hub when the hold's time ran out.
-- post/void/expire repeat the pending transfer's accounts.
CREATE TABLE ledger_transfers (
    id              TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
    debit_account   BIGINT NOT NULL REFERENCES ledger_accounts (id),
    credit_account  BIGINT NOT NULL REFERENCES ledger_accounts (id),
    amount          BIGINT NOT NULL CHECK (amount >= 0),
    flow            TEXT NOT NULL CHECK (flow IN ('posted', 'pending', 'post', 'void', 'expire')),
    pending_id      TEXT REFERENCES ledger_transfers (id),
    timeout_at      TIMESTAMPTZ,
    -- Why money moved: grant, topup, inference, finetune, refund, correction...
    code            TEXT NOT NULL,
    memo            TEXT NOT NULL DEFAULT '',
    -- What it is about: an order, a job.
    reference       TEXT,
    -- The site admin who granted, refunded or corrected.
    created_by      BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (debit_account <> credit_account),
    CHECK ((flow IN ('post', 'void', 'expire')) = (pending_id IS NOT NULL)),
    CHECK ((flow = 'pending') = (timeout_at IS NOT NULL))
);
-- A hold is resolved once: posted, voided or expired.
CREATE UNIQUE INDEX ledger_transfers_resolution ON ledger_transfers (pending_id)
    WHERE pending_id IS NOT NULL;
CREATE INDEX ledger_transfers_debit ON ledger_transfers (debit_account, created_at);
CREATE INDEX ledger_transfers_credit ON ledger_transfers (credit_account, created_at);
CREATE INDEX ledger_transfers_holds ON ledger_transfers (timeout_at) WHERE flow = 'pending';
CREATE INDEX ledger_transfers_reference ON ledger_transfers (reference) WHERE reference IS NOT NULL;

-- Prices, per device class: per second of device time and per thousand
-- tokens. A new price is a new row from `effective_from`; the price in force
-- when a usage began is copied onto its charge, so repricing never changes
-- what was charged.
CREATE TABLE billing_rates (
    id                  BIGSERIAL PRIMARY KEY,
    device_class        TEXT NOT NULL CHECK (device_class ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    per_second          BIGINT NOT NULL CHECK (per_second >= 0),
    per_thousand_tokens BIGINT NOT NULL CHECK (per_thousand_tokens >= 0),
    effective_from      TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by          BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX billing_rates_class ON billing_rates (device_class, effective_from);

-- Who pays for inference past the free quota: a wallet's owner opts in.
CREATE TABLE billing_settings (
    namespace_id     BIGINT PRIMARY KEY REFERENCES namespaces (id) ON DELETE CASCADE,
    paid_inference   BOOLEAN NOT NULL DEFAULT false,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A usage record's price, stored on the record when it is charged.
ALTER TABLE usage_records
    ADD COLUMN namespace_id  BIGINT REFERENCES namespaces (id) ON DELETE SET NULL,
    ADD COLUMN device_class  TEXT,
    ADD COLUMN rate_id       BIGINT REFERENCES billing_rates (id),
    ADD COLUMN cost          BIGINT,
    ADD COLUMN transfer_id   TEXT REFERENCES ledger_transfers (id);

-- Top-ups. An order is created before the customer pays; the provider's
-- verified notification credits it exactly once.
CREATE TABLE billing_orders (
    id                TEXT PRIMARY KEY,
    namespace_id      BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE RESTRICT,
    created_by        BIGINT REFERENCES users (id) ON DELETE SET NULL,
    provider          TEXT NOT NULL,
    -- In the provider's minor unit of `currency` (fen for CNY).
    amount_minor      BIGINT NOT NULL CHECK (amount_minor > 0),
    currency          TEXT NOT NULL,
    -- What the wallet receives, in micro-yuan.
    credits           BIGINT NOT NULL CHECK (credits > 0),
    state             TEXT NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'paid', 'expired', 'failed')),
    -- Where the customer pays: a redirect URL or a QR code's content.
    checkout_url      TEXT,
    qr_code           TEXT,
    provider_txn_id   TEXT,
    transfer_id       TEXT REFERENCES ledger_transfers (id),
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    paid_at           TIMESTAMPTZ
);
CREATE INDEX billing_orders_namespace ON billing_orders (namespace_id, created_at);

-- Every notification a provider sent that verified, once per provider event:
-- the same event delivered again finds its row and credits nothing.
CREATE TABLE billing_payment_events (
    provider           TEXT NOT NULL,
    provider_event_id  TEXT NOT NULL,
    order_id           TEXT REFERENCES billing_orders (id),
    outcome            TEXT NOT NULL,
    received_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, provider_event_id)
);

-- A job run past the free quota: whose wallet pays, and the hold that
-- reserves its worst case until it is settled at what it used.
ALTER TABLE inference_jobs
    ADD COLUMN billed_to  BIGINT REFERENCES namespaces (id) ON DELETE SET NULL,
    ADD COLUMN hold_id    TEXT REFERENCES ledger_transfers (id);
CREATE INDEX inference_jobs_unsettled ON inference_jobs (finished_at)
    WHERE hold_id IS NOT NULL AND state IN ('failed', 'cancelled', 'dead');

-- A posted or pending transfer in one statement (one round trip, atomic by
-- itself): 'exists' when the id is taken (the caller compares the fields),
-- 'insufficient' when a wallet on the debit side lacks the amount (nothing
-- written), else 'created'. The two account rows are locked in id order,
-- so transfers in opposite directions cannot deadlock; NO KEY UPDATE, as an
-- UPDATE locks, so that the KEY SHARE locks of concurrent inserts' foreign
-- keys do not conflict with it. Under Read Committed the balance is read
-- after the lock: the latest committed one.
CREATE FUNCTION ledger_move(
    p_id TEXT, p_debit BIGINT, p_credit BIGINT, p_amount BIGINT, p_flow TEXT,
    p_timeout_seconds DOUBLE PRECISION, p_code TEXT, p_memo TEXT, p_reference TEXT,
    p_created_by BIGINT
) RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
    v_pending BIGINT := CASE WHEN p_flow = 'pending' THEN p_amount ELSE 0 END;
    v_posted  BIGINT := CASE WHEN p_flow = 'posted' THEN p_amount ELSE 0 END;
    v_short   BOOLEAN;
BEGIN
    IF EXISTS (SELECT 1 FROM ledger_transfers WHERE id = p_id) THEN
        RETURN 'exists';
    END IF;
    PERFORM 1 FROM ledger_accounts WHERE id IN (p_debit, p_credit) ORDER BY id FOR NO KEY UPDATE;
    SELECT debits_must_not_exceed_credits
           AND credits_posted < debits_posted + debits_pending + p_amount
      INTO v_short FROM ledger_accounts WHERE id = p_debit;
    IF v_short IS NULL THEN
        RAISE EXCEPTION 'no ledger account %', p_debit USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF v_short THEN
        RETURN 'insufficient';
    END IF;
    INSERT INTO ledger_transfers
        (id, debit_account, credit_account, amount, flow, timeout_at, code, memo, reference,
         created_by)
    VALUES (p_id, p_debit, p_credit, p_amount, p_flow,
            now() + make_interval(secs => p_timeout_seconds), p_code, p_memo, p_reference,
            p_created_by);
    UPDATE ledger_accounts
       SET debits_pending = debits_pending + v_pending, debits_posted = debits_posted + v_posted
     WHERE id = p_debit;
    UPDATE ledger_accounts
       SET credits_pending = credits_pending + v_pending, credits_posted = credits_posted + v_posted
     WHERE id = p_credit;
    RETURN 'created';
END $$;

-- Shop database schema (PostgreSQL). Local development uses SQLite with equivalent tables.
-- Money is stored as integer cents.

CREATE TABLE products (
    sku          TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    price_cents  INTEGER NOT NULL CHECK (price_cents >= 0)
);

-- on_hand: units on the shelf; reserved: units promised to orders that have not shipped yet.
CREATE TABLE stock (
    sku       TEXT PRIMARY KEY REFERENCES products (sku),
    on_hand   INTEGER NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
    reserved  INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= on_hand)
);

CREATE TABLE orders (
    id              SERIAL PRIMARY KEY,
    customer_email  TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled', 'refunded')),
    charge_id       TEXT,
    paid_at         TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Prices are copied here when the order is placed.
CREATE TABLE order_items (
    order_id          INTEGER NOT NULL REFERENCES orders (id),
    sku               TEXT NOT NULL REFERENCES products (sku),
    quantity          INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents  INTEGER NOT NULL,
    PRIMARY KEY (order_id, sku)
);

-- One row per successful charge at the payment provider.
CREATE TABLE payments (
    id            SERIAL PRIMARY KEY,
    order_id      INTEGER NOT NULL REFERENCES orders (id),
    charge_id     TEXT NOT NULL UNIQUE,
    amount_cents  INTEGER NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Written by the API, consumed by worker/ (see worker/queue.go).
CREATE TABLE email_jobs (
    id         SERIAL PRIMARY KEY,
    kind       TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    payload    JSONB NOT NULL DEFAULT '{}',
    status     TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX email_jobs_queued ON email_jobs (id) WHERE status = 'queued';

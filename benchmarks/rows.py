"""Rows of a realistic source database, as COPY text lines: mixed types, prose, JSON, some bytes.

Five tables of a small shop (customers, products, orders, events, documents) with numeric,
timestamptz, uuid, inet, boolean, text[], jsonb and bytea columns; indexes of several kinds
(B-tree, GIN, BRIN) and foreign keys are built after loading.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmarks import values


def _customer(src: values.Source, row_id: int, _parents: int) -> list[str]:
    first, last = src.pick(values.FIRST_NAMES), src.pick(values.LAST_NAMES)
    email = f"{first}.{last}{row_id}@{src.pick(values.DOMAINS)}".lower().replace("'", "")
    profile = {
        "lang": src.pick(("en", "de", "fr", "es", "ja")),
        "newsletter": src.rng.random() < 0.3,
        "address": {
            "street": f"{src.integer(1, 400)} {src.few(1, 2)[0].capitalize()} Street",
            "city": src.pick(values.CITIES),
            "zip": f"{src.integer(1000, 99999):05d}",
        },
        "tags": src.few(0, 4),
        "score": round(src.rng.random() * 100, 3),
    }
    return [
        str(row_id),
        src.uuid(),
        email,
        f"{first} {last}",
        src.pick(values.COUNTRIES),
        src.moment(),
        src.money(5000),
        "t" if src.rng.random() < 0.85 else "f",
        values.jsonb(profile),
    ]


def _product(src: values.Source, row_id: int, _parents: int) -> list[str]:
    tags = src.few(1, 5)
    attributes = {
        "color": src.pick(("red", "blue", "black", "white", "green")),
        "weight_g": src.integer(10, 5000),
        "dimensions": [src.integer(1, 100) for _ in range(3)],
        "supplier": src.few(1, 1)[0],
    }
    return [
        str(row_id),
        f"SKU-{src.hex(32).upper()}",
        " ".join(src.few(2, 4)).title(),
        src.prose(20, 90),
        src.money(900),
        "{" + ",".join(tags) + "}",
        values.jsonb(attributes),
    ]


def _order(src: values.Source, row_id: int, parents: int) -> list[str]:
    lines = [
        {
            "product_id": src.integer(1, 5000),
            "qty": src.integer(1, 5),
            "unit_price": round(src.rng.random() * 300, 2),
        }
        for _ in range(src.integer(1, 6))
    ]
    shipping = {
        "name": f"{src.pick(values.FIRST_NAMES)} {src.pick(values.LAST_NAMES)}",
        "city": src.pick(values.CITIES),
        "country": src.pick(values.COUNTRIES),
        "method": src.pick(("standard", "express", "pickup")),
        "tracking": src.hex(64) if src.rng.random() < 0.6 else None,
    }
    return [
        str(row_id),
        str(src.integer(1, max(parents, 1))),
        src.pick(values.ORDER_STATUSES),
        src.moment(),
        f"{sum(line['qty'] * line['unit_price'] for line in lines):.2f}",
        src.pick(("EUR", "USD", "GBP", "JPY")),
        values.jsonb(shipping),
        values.jsonb(lines),
        src.prose(4, 25) if src.rng.random() < 0.25 else "\\N",
    ]


def _event(src: values.Source, row_id: int, parents: int) -> list[str]:
    payload = {
        "request_id": src.hex(64),
        "path": f"/api/v1/{src.few(1, 1)[0]}/{src.integer(1, 10**6)}",
        "status": src.pick((200, 200, 200, 201, 204, 400, 404, 500)),
        "duration_ms": round(src.rng.expovariate(1 / 40), 2),
    }
    ip = ".".join(str(src.integer(1, 254)) for _ in range(4))
    return [
        str(row_id),
        src.moment(),
        str(src.integer(1, max(parents, 1))),
        src.pick(values.EVENT_KINDS),
        ip,
        src.pick(values.USER_AGENTS),
        values.jsonb(payload),
        src.prose(5, 20),
    ]


def _document(src: values.Source, row_id: int, parents: int) -> list[str]:
    attachment = "\\N"
    if src.rng.random() < 0.15:
        attachment = "\\\\x" + src.rng.randbytes(src.integer(256, 4096)).hex()
    return [
        str(row_id),
        str(src.integer(1, max(parents, 1))),
        src.prose(3, 10).rstrip("."),
        src.prose(80, 700),
        src.hex(128),
        attachment,
    ]


RowMaker = Callable[[values.Source, int, int], list[str]]


@dataclass(frozen=True)
class Table:
    """A table, its DDL, and how many rows of it one batch adds."""

    name: str
    ddl: str
    make: RowMaker
    per_batch: int


TABLES: tuple[Table, ...] = (
    Table(
        "customers",
        "id bigint NOT NULL, external_id uuid NOT NULL, email text NOT NULL, "
        "full_name text NOT NULL, country char(2), created_at timestamptz NOT NULL, "
        "balance numeric(12,2), is_active boolean NOT NULL, profile jsonb",
        _customer,
        1500,
    ),
    Table(
        "products",
        "id bigint NOT NULL, sku text NOT NULL, name text NOT NULL, description text, "
        "price numeric(10,2) NOT NULL, tags text[], attributes jsonb",
        _product,
        60,
    ),
    Table(
        "orders",
        "id bigint NOT NULL, customer_id bigint NOT NULL, status text NOT NULL, "
        "placed_at timestamptz NOT NULL, total numeric(12,2), currency char(3), "
        "shipping jsonb, lines jsonb, note text",
        _order,
        6000,
    ),
    Table(
        "events",
        "id bigint NOT NULL, occurred_at timestamptz NOT NULL, actor_id bigint, "
        "kind text NOT NULL, ip inet, user_agent text, payload jsonb, message text",
        _event,
        9000,
    ),
    Table(
        "documents",
        "id bigint NOT NULL, customer_id bigint NOT NULL, title text NOT NULL, "
        "body text, checksum text, attachment bytea",
        _document,
        500,
    ),
)

# Built after loading (faster than maintaining them row by row): keys, B-tree, GIN and BRIN
# indexes, foreign keys, and a view.
POST_LOAD = (
    *(f"ALTER TABLE {table.name} ADD PRIMARY KEY (id)" for table in TABLES),
    "CREATE UNIQUE INDEX customers_email ON customers (email)",
    "CREATE UNIQUE INDEX customers_external_id ON customers (external_id)",
    "CREATE INDEX customers_created ON customers (created_at)",
    "CREATE UNIQUE INDEX products_sku ON products (sku)",
    "CREATE INDEX products_tags ON products USING gin (tags)",
    "CREATE INDEX orders_customer ON orders (customer_id)",
    "CREATE INDEX orders_status_placed ON orders (status, placed_at)",
    "CREATE INDEX events_occurred ON events USING brin (occurred_at)",
    "CREATE INDEX events_actor ON events (actor_id, occurred_at)",
    "CREATE INDEX events_payload ON events USING gin (payload jsonb_path_ops)",
    "CREATE INDEX documents_customer ON documents (customer_id)",
    "ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers",
    "ALTER TABLE documents ADD FOREIGN KEY (customer_id) REFERENCES customers",
    "CREATE VIEW order_totals AS SELECT customer_id, count(*) AS orders, sum(total) AS spent "
    "FROM orders GROUP BY customer_id",
)


def batch_lines(table: Table, seed: int, first_id: int, parents: int, count: int) -> str:
    """`count` rows of `table` as COPY text, ids from `first_id`."""
    src = values.Source(seed)
    return "".join(
        "\t".join(table.make(src, row_id, parents)) + "\n"
        for row_id in range(first_id, first_id + count)
    )

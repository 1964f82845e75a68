"""Order data as the services pass it around; the tables behind it are in db/schema.sql."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class OrderStatus(enum.StrEnum):
    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


@dataclass
class OrderLine:
    sku: str
    quantity: int
    unit_price_cents: int

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


@dataclass
class Order:
    id: int
    customer_email: str
    status: OrderStatus
    lines: list[OrderLine] = field(default_factory=list)
    charge_id: str | None = None
    paid_at: datetime | None = None

    @property
    def total_cents(self) -> int:
        return sum(line.total_cents for line in self.lines)

"""Stock levels per product (SKU).

Stock is *reserved* when an order is placed so two customers cannot buy the last item, and
*released* again when an unpaid order is cancelled. Reserved units are only removed from the
shelf count when the warehouse ships them.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.db import Database


class OutOfStock(Exception):
    def __init__(self, sku: str, wanted: int, available: int) -> None:
        super().__init__(f"{sku}: wanted {wanted}, only {available} available")
        self.sku, self.wanted, self.available = sku, wanted, available


@dataclass(frozen=True)
class StockLevel:
    sku: str
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class InventoryService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def level(self, sku: str) -> StockLevel:
        row = self.db.query_one("SELECT sku, on_hand, reserved FROM stock WHERE sku = :sku", sku=sku)
        if row is None:
            return StockLevel(sku, 0, 0)
        return StockLevel(row["sku"], row["on_hand"], row["reserved"])

    def reserve_stock(self, items: dict[str, int]) -> None:
        """Hold units of each SKU for an order, all or nothing.

        The UPDATE only succeeds while enough units are unreserved, so concurrent checkouts
        cannot oversell; if any SKU is short the whole reservation is rolled back.
        """
        with self.db.transaction() as conn:
            for sku, quantity in sorted(items.items()):
                cursor = conn.execute(
                    "UPDATE stock SET reserved = reserved + :qty "
                    "WHERE sku = :sku AND on_hand - reserved >= :qty",
                    {"sku": sku, "qty": quantity},
                )
                if cursor.rowcount == 0:
                    raise OutOfStock(sku, quantity, self.level(sku).available)

    def release_stock(self, items: dict[str, int]) -> None:
        """Undo a reservation, e.g. when an unpaid order is cancelled."""
        with self.db.transaction() as conn:
            for sku, quantity in items.items():
                conn.execute(
                    "UPDATE stock SET reserved = MAX(reserved - :qty, 0) WHERE sku = :sku",
                    {"sku": sku, "qty": quantity},
                )

    def restock(self, sku: str, quantity: int) -> None:
        """Record a delivery from a supplier."""
        self.db.execute(
            "INSERT INTO stock (sku, on_hand, reserved) VALUES (:sku, :qty, 0) "
            "ON CONFLICT (sku) DO UPDATE SET on_hand = on_hand + :qty",
            sku=sku, qty=quantity,
        )

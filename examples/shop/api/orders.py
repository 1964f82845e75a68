"""Orders: creation, payment, cancellation and refunds.

An order moves through PENDING -> PAID -> SHIPPED, or PENDING -> CANCELLED, or PAID -> REFUNDED.
Prices are copied onto the order lines when the order is created, so later price changes never
alter what a customer owes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from api.db import Database
from api.inventory import InventoryService
from api.models import Order, OrderLine, OrderStatus
from api.notifications import Notifier
from api.payments import PaymentError, PaymentGateway


class OrderError(Exception):
    """An operation that is not allowed in the order's current state."""


class OrderService:
    def __init__(self, db: Database, inventory: InventoryService, gateway: PaymentGateway,
                 notifier: Notifier) -> None:
        self.db = db
        self.inventory = inventory
        self.gateway = gateway
        self.notifier = notifier

    def create_order(self, customer_email: str, items: dict[str, int]) -> Order:
        """Place a new order for the given SKUs and quantities, reserving the stock first."""
        if not items:
            raise OrderError("an order needs at least one item")
        self.inventory.reserve_stock(items)
        prices = {}
        for sku in items:
            row = self.db.query_one("SELECT price_cents FROM products WHERE sku = :sku", sku=sku)
            if row is None:
                raise OrderError(f"unknown product {sku}")
            prices[sku] = row["price_cents"]
        order_id = self.db.execute(
            "INSERT INTO orders (customer_email, status) VALUES (:email, :status)",
            email=customer_email, status=OrderStatus.PENDING,
        )
        lines = [OrderLine(sku, qty, prices[sku]) for sku, qty in items.items()]
        for line in lines:
            self.db.execute(
                "INSERT INTO order_items (order_id, sku, quantity, unit_price_cents) "
                "VALUES (:order_id, :sku, :qty, :price)",
                order_id=order_id, sku=line.sku, qty=line.quantity, price=line.unit_price_cents,
            )
        return Order(order_id, customer_email, OrderStatus.PENDING, lines)

    def get(self, order_id: int) -> Order:
        row = self.db.query_one("SELECT * FROM orders WHERE id = :id", id=order_id)
        if row is None:
            raise OrderError(f"order {order_id} does not exist")
        lines = [OrderLine(r["sku"], r["quantity"], r["unit_price_cents"]) for r in self.db.query(
            "SELECT sku, quantity, unit_price_cents FROM order_items WHERE order_id = :id", id=order_id)]
        return Order(row["id"], row["customer_email"], OrderStatus(row["status"]), lines,
                     row["charge_id"], row["paid_at"])

    def pay(self, order_id: int, card_token: str) -> Order:
        """Pay for an order: charge the customer's card through the payment gateway, then mark the
        order as paid and queue the confirmation email.

        Only a PENDING order can be paid. The charge uses the order id as idempotency reference, so
        a retried request never charges the card twice.
        """
        order = self.get(order_id)
        if order.status is not OrderStatus.PENDING:
            raise OrderError(f"order {order_id} is {order.status}, only pending orders can be paid")
        try:
            charge = self.gateway.charge(card_token, order.total_cents, reference=f"order-{order_id}")
        except PaymentError as exc:
            raise OrderError(f"payment for order {order_id} was declined: {exc}") from exc
        order.status = OrderStatus.PAID
        order.charge_id = charge.id
        order.paid_at = datetime.now(UTC)
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE orders SET status = :status, charge_id = :charge, paid_at = :paid_at WHERE id = :id",
                {"status": order.status, "charge": charge.id, "paid_at": order.paid_at.isoformat(),
                 "id": order_id},
            )
            conn.execute(
                "INSERT INTO payments (order_id, charge_id, amount_cents) VALUES (:id, :charge, :amount)",
                {"id": order_id, "charge": charge.id, "amount": order.total_cents},
            )
        self.notifier.order_confirmed(order_id, order.customer_email)
        return order

    def cancel(self, order_id: int) -> Order:
        """Cancel an order that has not been paid yet and put its items back in stock."""
        order = self.get(order_id)
        if order.status is not OrderStatus.PENDING:
            raise OrderError(f"order {order_id} is {order.status}; refund it instead")
        self.inventory.release_stock({line.sku: line.quantity for line in order.lines})
        self.db.execute("UPDATE orders SET status = :s WHERE id = :id", s=OrderStatus.CANCELLED, id=order_id)
        order.status = OrderStatus.CANCELLED
        return order

    def refund(self, order_id: int) -> Order:
        """Give a customer their money back for an order that was charged but not shipped."""
        order = self.get(order_id)
        if order.status is not OrderStatus.PAID or order.charge_id is None:
            raise OrderError(f"order {order_id} is {order.status}, only paid orders can be refunded")
        self.gateway.refund(order.charge_id)
        self.inventory.release_stock({line.sku: line.quantity for line in order.lines})
        self.db.execute("UPDATE orders SET status = :s WHERE id = :id", s=OrderStatus.REFUNDED, id=order_id)
        order.status = OrderStatus.REFUNDED
        return order

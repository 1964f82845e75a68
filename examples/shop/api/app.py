"""HTTP routes. Each handler validates input, calls one service method and maps errors to status codes."""

from __future__ import annotations

import os

from flask import Flask, jsonify, request

from api.db import Database
from api.inventory import InventoryService, OutOfStock
from api.notifications import Notifier
from api.orders import OrderError, OrderService
from api.payments import PaymentGateway


def create_app(database_url: str | None = None) -> Flask:
    """Build the Flask app and wire the services together (the only place that does)."""
    app = Flask(__name__)
    db = Database(database_url or os.environ.get("DATABASE_URL", "sqlite:///shop.db"))
    inventory = InventoryService(db)
    gateway = PaymentGateway(os.environ.get("PAYMENTS_API_URL", "https://payments.example.com/v1"),
                             os.environ.get("PAYMENTS_API_KEY", ""))
    orders = OrderService(db, inventory, gateway, Notifier(db))

    @app.errorhandler(OrderError)
    def order_error(exc: OrderError):
        return jsonify(error=str(exc)), 409

    @app.errorhandler(OutOfStock)
    def out_of_stock(exc: OutOfStock):
        return jsonify(error=str(exc), sku=exc.sku, available=exc.available), 409

    @app.post("/orders")
    def post_order():
        body = request.get_json(force=True)
        order = orders.create_order(body["email"], {i["sku"]: int(i["quantity"]) for i in body["items"]})
        return jsonify(id=order.id, status=order.status, total_cents=order.total_cents), 201

    @app.get("/orders/<int:order_id>")
    def get_order(order_id: int):
        order = orders.get(order_id)
        return jsonify(id=order.id, status=order.status, total_cents=order.total_cents)

    @app.post("/orders/<int:order_id>/pay")
    def post_payment(order_id: int):
        body = request.get_json(force=True)
        order = orders.pay(order_id, body["card_token"])
        return jsonify(id=order.id, status=order.status)

    @app.post("/orders/<int:order_id>/cancel")
    def post_cancel(order_id: int):
        return jsonify(id=order_id, status=orders.cancel(order_id).status)

    @app.post("/orders/<int:order_id>/refund")
    def post_refund(order_id: int):
        return jsonify(id=order_id, status=orders.refund(order_id).status)

    @app.get("/stock/<sku>")
    def get_stock(sku: str):
        level = inventory.level(sku)
        return jsonify(sku=sku, available=level.available)

    return app


if __name__ == "__main__":
    create_app().run(port=8000)

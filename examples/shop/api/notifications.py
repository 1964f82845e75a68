"""Hand-off from the API to the Go worker.

The API never sends email itself: it inserts a row into `email_jobs`, and `worker/` polls that
table. Writing the job in the same database keeps it consistent with the order it is about.
"""

from __future__ import annotations

import json

from api.db import Database


class Notifier:
    def __init__(self, db: Database) -> None:
        self.db = db

    def enqueue(self, kind: str, recipient: str, payload: dict) -> int:
        """Queue a job for the worker; returns the job id."""
        return self.db.execute(
            "INSERT INTO email_jobs (kind, recipient, payload) VALUES (:kind, :to, :payload)",
            kind=kind, to=recipient, payload=json.dumps(payload),
        )

    def order_confirmed(self, order_id: int, customer_email: str) -> int:
        return self.enqueue("order_confirmation", customer_email, {"order_id": order_id})

    def order_shipped(self, order_id: int, customer_email: str, tracking_code: str) -> int:
        return self.enqueue("order_shipped", customer_email,
                            {"order_id": order_id, "tracking_code": tracking_code})

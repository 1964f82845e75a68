"""Client for the card payment provider.

The provider exposes a REST API: a *charge* moves money from a card token to our account, a
*refund* gives (part of) a charge back. Amounts are always integer cents. This module knows
nothing about orders; `api.orders` decides when to call it.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from dataclasses import dataclass


class PaymentError(Exception):
    """The provider declined or could not process a charge or refund."""

    def __init__(self, message: str, code: str = "unknown") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Charge:
    id: str
    amount_cents: int
    currency: str
    status: str  # "succeeded" or "pending"


class PaymentGateway:
    """Talks HTTP to the provider; one instance per process is enough."""

    def __init__(self, api_url: str, api_key: str, timeout: float = 10.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def _post(self, endpoint: str, body: dict, idempotency_key: str) -> dict:
        request = urllib.request.Request(
            f"{self.api_url}/{endpoint}",
            data=json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Content-Type": "application/json",
                # Retrying with the same key never moves money twice.
                "Idempotency-Key": idempotency_key,
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            payload = json.load(response)
        if payload.get("error"):
            raise PaymentError(payload["error"]["message"], payload["error"].get("code", "unknown"))
        return payload

    def charge(self, card_token: str, amount_cents: int, currency: str = "EUR",
               reference: str | None = None) -> Charge:
        """Take money from a tokenised card. Raises PaymentError when the card is declined."""
        if amount_cents <= 0:
            raise ValueError("amount must be positive")
        payload = self._post(
            "charges",
            {"source": card_token, "amount": amount_cents, "currency": currency, "reference": reference},
            idempotency_key=reference or str(uuid.uuid4()),
        )
        return Charge(id=payload["id"], amount_cents=payload["amount"], currency=payload["currency"],
                      status=payload["status"])

    def refund(self, charge_id: str, amount_cents: int | None = None) -> str:
        """Give back a whole charge, or part of it; returns the provider's refund id."""
        body: dict = {"charge": charge_id}
        if amount_cents is not None:
            body["amount"] = amount_cents
        payload = self._post("refunds", body, idempotency_key=f"refund-{charge_id}-{amount_cents}")
        return payload["id"]

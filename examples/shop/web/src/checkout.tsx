/**
 * Checkout page: shows the cart, collects the email and card, then creates the order and
 * submits the card token. The card number never reaches our server, only the provider's token.
 */

import { useState } from "react";
import { ApiError, createOrder, submitCardToken } from "./api";
import type { Cart } from "./cart";
import { formatCents } from "./money";

interface CheckoutProps {
  cart: Cart;
  tokenizeCard: () => Promise<string>; // provided by the payment provider's JS widget
  onDone: (orderId: number) => void;
}

type Step = "review" | "submitting" | "failed";

export function Checkout({ cart, tokenizeCard, onDone }: CheckoutProps) {
  const [email, setEmail] = useState("");
  const [step, setStep] = useState<Step>("review");
  const [error, setError] = useState<string | null>(null);

  async function placeOrder() {
    setStep("submitting");
    setError(null);
    try {
      const order = await createOrder(email, cart.toOrderItems());
      const token = await tokenizeCard();
      await submitCardToken(order.id, token);
      cart.clear();
      onDone(order.id);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "Something went wrong, please try again.");
      setStep("failed");
    }
  }

  return (
    <section className="checkout">
      <h1>Checkout</h1>
      <ul>
        {cart.items().map((line) => (
          <li key={line.sku}>
            {line.quantity} × {line.name} — {formatCents(line.unitPriceCents * line.quantity)}
          </li>
        ))}
      </ul>
      <p className="total">Total: {formatCents(cart.totalCents())}</p>
      <label>
        Email for the receipt
        <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} />
      </label>
      {error && <p className="error">{error}</p>}
      <button disabled={step === "submitting" || !email} onClick={placeOrder}>
        {step === "submitting" ? "Placing order…" : "Place order"}
      </button>
    </section>
  );
}

/**
 * Typed wrapper around the shop's HTTP API (see api/app.py for the routes).
 * Every call throws ApiError with the server's message when the response is not 2xx.
 */

export interface OrderItem {
  sku: string;
  quantity: number;
}

export interface OrderSummary {
  id: number;
  status: "pending" | "paid" | "shipped" | "cancelled" | "refunded";
  total_cents?: number;
}

export class ApiError extends Error {
  constructor(public readonly status: number, message: string) {
    super(message);
  }
}

const BASE_URL = import.meta.env.VITE_API_URL ?? "/api";

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${BASE_URL}${path}`, {
    method,
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new ApiError(response.status, data.error ?? response.statusText);
  }
  return data as T;
}

/** Place an order for the cart's items; the server reserves the stock. */
export function createOrder(email: string, items: OrderItem[]): Promise<OrderSummary> {
  return request("POST", "/orders", { email, items });
}

/** Send the card token from the payment form; the server does the actual charge. */
export function submitCardToken(orderId: number, cardToken: string): Promise<OrderSummary> {
  return request("POST", `/orders/${orderId}/pay`, { card_token: cardToken });
}

export function fetchOrder(orderId: number): Promise<OrderSummary> {
  return request("GET", `/orders/${orderId}`);
}

/** How many units of a product can still be bought. */
export async function fetchAvailability(sku: string): Promise<number> {
  const data = await request<{ available: number }>("GET", `/stock/${encodeURIComponent(sku)}`);
  return data.available;
}

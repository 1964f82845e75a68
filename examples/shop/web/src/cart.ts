/**
 * The shopping cart lives in the browser (localStorage) until checkout; the server only
 * learns about it when an order is created.
 */

import { fetchAvailability, type OrderItem } from "./api";
import { sumCents } from "./money";

export interface CartLine {
  sku: string;
  name: string;
  unitPriceCents: number;
  quantity: number;
}

const STORAGE_KEY = "shop.cart.v1";

export class Cart {
  private lines = new Map<string, CartLine>();

  constructor(private readonly storage: Storage = window.localStorage) {
    const saved = storage.getItem(STORAGE_KEY);
    if (saved) {
      for (const line of JSON.parse(saved) as CartLine[]) {
        this.lines.set(line.sku, line);
      }
    }
  }

  /**
   * Put a product in the cart, or increase its quantity if it is already there.
   * Checks availability first so the customer learns about missing stock before checkout.
   */
  async addItem(sku: string, name: string, unitPriceCents: number, quantity = 1): Promise<void> {
    if (quantity <= 0) {
      throw new Error("quantity must be positive");
    }
    const existing = this.lines.get(sku);
    const wanted = (existing?.quantity ?? 0) + quantity;
    const available = await fetchAvailability(sku);
    if (wanted > available) {
      throw new Error(`only ${available} of ${name} left`);
    }
    this.lines.set(sku, { sku, name, unitPriceCents, quantity: wanted });
    this.save();
  }

  /** Take a product out of the cart entirely. */
  removeItem(sku: string): void {
    this.lines.delete(sku);
    this.save();
  }

  items(): CartLine[] {
    return [...this.lines.values()];
  }

  /** What the order will cost, in cents, before shipping. */
  totalCents(): number {
    return sumCents(this.items().map((line) => line.unitPriceCents * line.quantity));
  }

  /** The cart as the order API expects it. */
  toOrderItems(): OrderItem[] {
    return this.items().map(({ sku, quantity }) => ({ sku, quantity }));
  }

  clear(): void {
    this.lines.clear();
    this.save();
  }

  private save(): void {
    this.storage.setItem(STORAGE_KEY, JSON.stringify(this.items()));
  }
}

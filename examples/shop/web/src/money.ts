/**
 * Money helpers. Amounts travel as integer cents everywhere (API, cart, database) so
 * floating-point rounding never changes a price; only the UI turns them into strings.
 */

const formatter = new Intl.NumberFormat("en-IE", { style: "currency", currency: "EUR" });

/** Render cents as a localised price, e.g. 1999 -> "€19.99". */
export function formatCents(cents: number): string {
  return formatter.format(cents / 100);
}

/** Sum a list of cent amounts, refusing fractional input that would hide a bug upstream. */
export function sumCents(amounts: number[]): number {
  return amounts.reduce((total, amount) => {
    if (!Number.isInteger(amount)) {
      throw new Error(`not a cent amount: ${amount}`);
    }
    return total + amount;
  }, 0);
}

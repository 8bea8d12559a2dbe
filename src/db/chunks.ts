// Bulk writes go in statements of at most CHUNK rows: well under PostgreSQL's 65,535 bind
// parameters at 16 columns a row.
export const CHUNK = 2000

export function chunks<T> (items: T[]): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK))
  return out
}

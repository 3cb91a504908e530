/** JSON text columns: absent values are stored as JSON null. */
export const json = (v: unknown): string => JSON.stringify(v ?? null);
export const unjson = (v: string | null): unknown => (v === null ? null : JSON.parse(v));

/** Escapes LIKE's wildcards and the escape character itself, for a `like ... escape '\'` prefix match. */
export function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

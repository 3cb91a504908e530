/** Scale to unit length (a zero vector stays zero), so cosine similarity is a dot product. */
export function l2normalise(v: number[]): number[] {
  let sum = 0;
  for (const x of v) sum += x * x;
  if (sum === 0) return v;
  const inv = 1 / Math.sqrt(sum);
  // Math.fround: vectors are float32 everywhere (pgvector stores real), so a vector read back
  // from any store or an export file equals the one written.
  return v.map((x) => Math.fround(x * inv));
}

export function dot(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) s += a[i]! * b[i]!;
  return s;
}

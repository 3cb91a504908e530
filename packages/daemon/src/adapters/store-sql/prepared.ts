import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';
import type { Database } from './tables.js';

/** Stands for the `index`-th value of a statement's values while it is compiled. */
class Slot {
  constructor(readonly index: number) {}
}

/** Most shapes kept per statement; a statement with more (a multi-row insert of every size) builds the rest each time. */
const MAX_SHAPES = 32;

/**
 * A statement built and compiled by Kysely once per shape of its values, then only bound to
 * new values. Building a query (immutable operation nodes, frozen at every step) and
 * compiling it to SQL cost more of the daemon's CPU than running it: about a sixth of it on
 * the task path. The statements there have a few fixed shapes, so their SQL is made once.
 *
 * The shape of the values is their structure: the keys of plain objects and the lengths of
 * arrays, down to the leaves (strings, numbers, null, ...). The first time a shape is seen,
 * `build` gets the values with every leaf replaced by a placeholder; the compiled SQL then
 * carries the placeholders among its parameters, and each run swaps in that run's leaves.
 * So `build` must use the values only as values (in `where`, `values`, `set`, `in` lists),
 * never to decide what SQL to make: a decision belongs in the shape (which keys are there).
 * The SQL differs by dialect, so shapes are kept per dialect.
 */
export function prepared<V extends object, O>(build: (db: Kysely<Database>, v: V) => Compilable<O>): (db: Kysely<Database>, v: V) => Promise<QueryResult<O>> {
  const byDialect = new Map<unknown, Map<string, CompiledQuery<O>>>();
  return (db, v) => {
    const leaves: unknown[] = [];
    const shape = shapeOf(v, leaves);
    const dialect = db.getExecutor().adapter.constructor;
    let shapes = byDialect.get(dialect);
    if (!shapes) byDialect.set(dialect, (shapes = new Map()));
    let compiled = shapes.get(shape);
    if (!compiled) {
      if (shapes.size >= MAX_SHAPES) return db.executeQuery(build(db, v).compile());
      let next = 0;
      compiled = build(db, withSlots(v, () => new Slot(next++)) as V).compile();
      shapes.set(shape, compiled);
    }
    const parameters = compiled.parameters.map((p) => (p instanceof Slot ? leaves[p.index] : p));
    return db.executeQuery<O>({ ...compiled, parameters });
  };
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

/** The structure of `v` as text; its leaves are pushed to `leaves` in the order `withSlots` numbers them. */
function shapeOf(v: unknown, leaves: unknown[]): string {
  if (Array.isArray(v)) return `[${v.map((x) => shapeOf(x, leaves)).join(',')}]`;
  if (isPlain(v)) return `{${Object.keys(v).map((k) => `${JSON.stringify(k)}:${shapeOf(v[k], leaves)}`).join(',')}}`;
  // `undefined` makes Kysely leave a column out: a different statement.
  leaves.push(v);
  return v === undefined ? 'u' : '.';
}

/** `v` with each leaf replaced by `slot()` (undefined kept), in `shapeOf`'s order. */
function withSlots(v: unknown, slot: () => Slot): unknown {
  if (Array.isArray(v)) return v.map((x) => withSlots(x, slot));
  if (isPlain(v)) return Object.fromEntries(Object.keys(v).map((k) => [k, withSlots(v[k], slot)]));
  const s = slot();
  return v === undefined ? undefined : s;
}

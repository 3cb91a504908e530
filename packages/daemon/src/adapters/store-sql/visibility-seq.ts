import { sql, type Kysely } from 'kysely';

type SeqColumn = { table: string; column: string; key: string; orderBy: string[] };

/** Numbers the rows already there 1, 2, ... by `orderBy`. */
async function numberExisting(db: Kysely<unknown>, t: SeqColumn): Promise<void> {
  const order = sql.join(t.orderBy.map((c) => sql.ref(c)));
  await sql`update ${sql.table(t.table)} set ${sql.ref(t.column)} = o.n
    from (select ${sql.ref(t.key)} as k, row_number() over (order by ${order}) as n from ${sql.table(t.table)}) as o
    where ${sql.ref(`${t.table}.${t.key}`)} = o.k`.execute(db);
  await db.schema.createIndex(`${t.table}_${t.column}`).unique().on(t.table).column(t.column).execute();
}

/**
 * SQLite has one writer at a time and the trigger runs inside the insert's own statement,
 * so "one more than the largest" is also the order in which rows become visible.
 */
export async function sqliteVisibilitySeq(db: Kysely<unknown>, t: SeqColumn): Promise<void> {
  await db.schema.alterTable(t.table).addColumn(t.column, 'integer').execute();
  await numberExisting(db, t);
  const [table, column] = [t.table, t.column];
  await sql
    .raw(
      `create trigger ${table}_${column} after insert on ${table} for each row when new.${column} is null
       begin update ${table} set ${column} = (select coalesce(max(${column}), 0) + 1 from ${table}) where rowid = new.rowid; end`,
    )
    .execute(db);
}

/**
 * PostgreSQL: a sequence alone numbers inserts in the order they start, not the order they
 * commit, so a reader could see 11 before 10 commits and step past 10 for good. The trigger
 * takes a transaction-scoped advisory lock before drawing the number; it is held until
 * commit, so the next insert draws its number only once this row is visible.
 */
export async function postgresVisibilitySeq(db: Kysely<unknown>, t: SeqColumn): Promise<void> {
  const [table, column] = [t.table, t.column];
  const seq = `${table}_${column}_counter`;
  await db.schema.alterTable(table).addColumn(column, 'bigint').execute();
  await numberExisting(db, t);
  await sql.raw(`create sequence ${seq}`).execute(db);
  await sql.raw(`select setval('${seq}', coalesce(max(${column}), 0) + 1, false) from ${table}`).execute(db);
  await sql
    .raw(
      `create function ${table}_${column}_next() returns trigger language plpgsql as $$
       begin
         perform pg_advisory_xact_lock(hashtext('${table}.${column}'));
         new.${column} := nextval('${seq}');
         return new;
       end $$`,
    )
    .execute(db);
  await sql.raw(`create trigger ${table}_${column} before insert on ${table} for each row execute procedure ${table}_${column}_next()`).execute(db);
}

/**
 * What people and villagers see as an author: a person by their token's name, an agent by
 * its name, never a token id (ids are credentials' handles, and mean nothing to a reader).
 * Board rows keep the id (`human:<token id>`) as the author's identity; the name is looked
 * up when shown, so renaming needs no rewrite and a revoked token still has its name.
 */
export class AuthorNames {
  private readonly cache = new Map<string, string>();

  constructor(private readonly tokenName: (tokenId: string) => Promise<string | undefined>, private readonly limit = 10_000) {}

  async of(authorId: string): Promise<string> {
    if (authorId.startsWith('agent:')) return authorId.slice('agent:'.length);
    if (authorId === 'system') return 'the town';
    const cached = this.cache.get(authorId);
    if (cached !== undefined) return cached;
    const id = authorId.startsWith('human:') ? authorId.slice('human:'.length) : authorId;
    const name = (await this.tokenName(id).catch(() => undefined)) ?? 'someone';
    if (this.cache.size >= this.limit) this.cache.clear();
    this.cache.set(authorId, name);
    return name;
  }

  /** `row` with an `authorName` beside its `authorId`. */
  async of1<T extends { authorId: string }>(row: T): Promise<T & { authorName: string }> {
    return { ...row, authorName: await this.of(row.authorId) };
  }

  /** `rows` with an `authorName` beside each `authorId`. */
  async name<T extends { authorId: string }>(rows: readonly T[]): Promise<Array<T & { authorName: string }>> {
    return Promise.all(rows.map((r) => this.of1(r)));
  }
}

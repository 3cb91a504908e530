import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest, SecretService, type Clock, type Manifest, type SecretCipher } from '@aiflock/core';
import { sqliteBackend } from '../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../src/adapters/store-sql/sql-store.js';
import { SecretBox } from '../src/adapters/secrets/secret-box.js';

/**
 * The scrubber the ingest runs over everything an instance sends is compiled once per agent
 * and cached (no decryption per event), yet a secret set, replaced or removed (here, or by a
 * second daemon on the same database) is scrubbed by its new value from the next call on.
 * Real SQLite store, real SecretBox; the cipher is only wrapped to count decryptions.
 */
describe('SecretService.scrubberFor', () => {
  let dir: string;
  let store: SqlStore;
  let box: SecretBox;
  let opened = 0;
  // Each call a millisecond later, so every write has its own updatedAt, as in real use.
  let tick = Date.parse('2026-12-01T00:00:00Z');
  const clock: Clock = { now: () => new Date(tick++) };
  const counting = (): SecretCipher => ({ seal: (v, c) => box.seal(v, c), open: (s, c) => (opened++, box.open(s, c)) });
  const manifestWith = (names: string[]): Manifest =>
    parseManifest(`name: alpha\nhandlers: [echo]\nsecrets:\n${names.map((n) => `  - { name: ${n}, file: true }\n`).join('')}`, 'agent.yaml').manifest;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aiflock-scrubber-'));
    store = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
    box = await SecretBox.fromKeyFile(join(dir, 'secrets.key'));
  });
  afterAll(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('decrypts once, then reuses the compiled scrubber while nothing changes', async () => {
    const secrets = new SecretService({ store, cipher: counting(), clock });
    await secrets.set('tok-a', 'value-a-1111');
    const m = manifestWith(['tok-a']);
    opened = 0;
    const first = await secrets.scrubberFor(m);
    for (let i = 0; i < 5; i++) expect(await secrets.scrubberFor(m)).toBe(first);
    expect(opened).toBe(1);
    expect(first({ msg: 'x value-a-1111 y' })).toEqual({ msg: 'x [secret:tok-a] y' });
  });

  it('scrubs a replaced value, and no longer a removed one, from the next call on', async () => {
    const secrets = new SecretService({ store, cipher: counting(), clock });
    await secrets.set('tok-b', 'old-bbbb-2222');
    const m = manifestWith(['tok-b']);
    expect((await secrets.scrubberFor(m))('old-bbbb-2222')).toBe('[secret:tok-b]');

    await secrets.set('tok-b', 'new-bbbb-3333');
    const after = await secrets.scrubberFor(m);
    expect(after('new-bbbb-3333')).toBe('[secret:tok-b]');

    await secrets.remove('tok-b');
    expect((await secrets.scrubberFor(m))('new-bbbb-3333')).toBe('new-bbbb-3333');
    // Set again: held again.
    await secrets.set('tok-b', 'back-bbbb-4444');
    expect((await secrets.scrubberFor(m))('back-bbbb-4444')).toBe('[secret:tok-b]');
  });

  it('follows a change made by another daemon on the same database', async () => {
    const here = new SecretService({ store, cipher: counting(), clock });
    const there = new SecretService({ store, cipher: counting(), clock });
    await there.set('tok-c', 'first-cccc-5555');
    const m = manifestWith(['tok-c']);
    expect((await here.scrubberFor(m))('first-cccc-5555')).toBe('[secret:tok-c]');
    // `here` saw no set or remove of its own: only the store says the value changed.
    await there.set('tok-c', 'second-cccc-6666');
    expect((await here.scrubberFor(m))('second-cccc-6666 first')).toBe('[secret:tok-c] first');
  });

  it('keeps one scrubber per set of secret names, and none for a manifest holding no secrets', async () => {
    const secrets = new SecretService({ store, cipher: counting(), clock });
    await secrets.set('tok-d', 'dddd-7777');
    await secrets.set('tok-e', 'eeee-8888');
    const d = await secrets.scrubberFor(manifestWith(['tok-d']));
    const both = await secrets.scrubberFor(manifestWith(['tok-d', 'tok-e']));
    expect(d('dddd-7777 eeee-8888')).toBe('[secret:tok-d] eeee-8888');
    expect(both('dddd-7777 eeee-8888')).toBe('[secret:tok-d] [secret:tok-e]');
    const none = parseManifest('name: plain\nhandlers: [echo]\n', 'agent.yaml').manifest;
    expect((await secrets.scrubberFor(none))('dddd-7777')).toBe('dddd-7777');
  });
});

import { afterEach, describe } from 'vitest';
import type { Store } from '@aiflock/core';

type Contract = { contract: (open: () => Promise<Store>) => void };

/**
 * Every `<topic>.contract.ts` next to this file, found by Vite's glob import so a new
 * contract runs on every backend without touching the runners.
 */
const contracts = import.meta.glob<Contract>('./*.contract.ts', { eager: true });

/**
 * Run every storage contract against one backend. `open` opens a store on the current
 * test's fresh database (the runner creates one in its own beforeEach); every store opened
 * during a test is closed after it.
 */
export function runContracts(backend: string, open: () => Promise<Store>): void {
  const opened: Store[] = [];
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
  });
  const tracked = async () => {
    const s = await open();
    opened.push(s);
    return s;
  };
  const entries = Object.entries(contracts);
  if (entries.length === 0) throw new Error('no *.contract.ts files found next to run-contracts.ts');
  for (const [file, mod] of entries) {
    describe(`${backend}: ${file.replace(/^\.\/|\.contract\.ts$/g, '')}`, () => mod.contract(tracked));
  }
}

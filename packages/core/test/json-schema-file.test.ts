import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { manifestJsonSchema } from '../src/index.js';

const FILE = join(import.meta.dirname, '..', '..', '..', 'schemas', 'agent-manifest.schema.json');

it('the published manifest JSON Schema in schemas/ is up to date (UPDATE_SCHEMAS=1 rewrites it)', () => {
  const current = `${JSON.stringify(manifestJsonSchema(), null, 2)}\n`;
  if (process.env['UPDATE_SCHEMAS'] === '1') writeFileSync(FILE, current);
  expect(readFileSync(FILE, 'utf8')).toBe(current);
});

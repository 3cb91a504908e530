import { describe, expect, it } from 'vitest';
import { ManifestError, parseManifest } from '../src/index.js';

const issues = (text: string) => {
  try {
    parseManifest(text, 'a.yaml');
  } catch (err) {
    if (err instanceof ManifestError) return err.message;
    throw err;
  }
  return 'accepted';
};

describe('manifest secrets', () => {
  it('accepts file and header deliveries', () => {
    const { manifest } = parseManifest('name: a\nsecrets:\n  - { name: tok, file: true }\n  - { name: key, header: { host: api.example.com, name: X-Api-Key } }\n', 'a.yaml');
    expect(manifest.secrets).toEqual([
      { name: 'tok', file: true },
      { name: 'key', file: false, header: { host: 'api.example.com', name: 'X-Api-Key', prefix: '', tls: true } },
    ]);
  });

  it('refuses a secret in the environment, and one with no delivery, naming the field', () => {
    expect(issues('name: a\nsecrets:\n  - { name: tok, env: TOKEN, file: true }\n')).toMatch(/secrets\.0\.env.*never put in the environment/s);
    expect(issues('name: a\nsecrets:\n  - { name: tok }\n')).toMatch(/secrets\.0\.file.*file: true and\/or header/s);
    expect(issues('name: a\nsecrets:\n  - { name: "../x", file: true }\n')).toMatch(/secrets\.0\.name/);
  });
});

import { describe, expect, it } from 'vitest';
import { DEFAULT_WORKBENCH_IMAGE, explainStartError, FlockError, imageFor } from '../src/index.js';

describe('the image a manifest runs', () => {
  const choices = { defaultImage: 'aiflock/agent:abc', workbenchImage: 'aiflock/workbench:def' };

  it('is the default image when the manifest names none, the configured workbench for `workbench`, else its own', () => {
    expect(imageFor(undefined, choices)).toBe('aiflock/agent:abc');
    expect(imageFor('workbench', choices)).toBe('aiflock/workbench:def');
    expect(imageFor('node:20-bookworm-slim', choices)).toBe('node:20-bookworm-slim');
    expect(imageFor('workbench', { defaultImage: 'x' })).toBe(DEFAULT_WORKBENCH_IMAGE);
  });

  it('a missing workbench image is explained with the script that builds it; other errors are left as they are', () => {
    // What the Docker and operator runtimes throw for an image the engine does not have.
    const missing = new FlockError('validation_failed', 'image "aiflock/workbench:latest" is not present on node n1', { field: 'image', value: 'aiflock/workbench:latest' });
    expect(explainStartError(missing, 'workbench')).toMatch(/not present on node n1 .*bash scripts\/build-workbench\.sh/);
    expect(explainStartError(missing, 'my/own:image')).not.toContain('build-workbench');
    const other = new FlockError('runtime_unavailable', 'docker could not create x');
    expect(explainStartError(other, 'workbench')).not.toContain('build-workbench');
  });
});

import { describe, expect, it } from 'vitest';
import { formatSize, parseDuration, parseSize } from '@aiflock/protocol';

describe('human units', () => {
  it('reads sizes in decimal and binary units up to tera, and a bare number as bytes', () => {
    expect(parseSize('256Mi')).toBe(256 * 1024 ** 2);
    expect(parseSize('1G')).toBe(1000 ** 3);
    expect(parseSize('2Ti')).toBe(2 * 1024 ** 4);
    expect(parseSize('1.5TB')).toBe(1.5 * 1000 ** 4);
    expect(parseSize(4096)).toBe(4096);
    expect(formatSize(parseSize('3Gi')!)).toBe('3Gi');
  });

  it('refuses what is not a size or a duration', () => {
    for (const bad of ['', 'lots', '1Pi', '-1G', '1 G B']) expect(parseSize(bad), bad).toBeNull();
    expect(parseSize(1.5)).toBeNull();
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('1w')).toBeNull();
  });
});

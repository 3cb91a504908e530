import { describe, expect, it } from 'vitest';
import { decideEgress, parseEgressRules, specialPurpose, specialPurposeCidrs } from '../src/egress/policy.js';

const PUBLIC = '93.184.216.34';

describe('egress policy', () => {
  it('parses domains, wildcards, ports and CIDRs; refuses nonsense with the rule in the message', () => {
    expect(parseEgressRules(['api.github.com', '*.example.org', 'h.test:8443', '10.1.2.3/24'])).toEqual([
      { kind: 'domain', pattern: 'api.github.com', wildcard: false, port: null, text: 'api.github.com' },
      { kind: 'domain', pattern: 'example.org', wildcard: true, port: null, text: '*.example.org' },
      { kind: 'domain', pattern: 'h.test', wildcard: false, port: 8443, text: 'h.test:8443' },
      { kind: 'cidr', base: (10 << 24) + (1 << 16) + (2 << 8), bits: 24, text: '10.1.2.3/24' },
    ]);
    expect(() => parseEgressRules(['10.0.0.0/33'])).toThrow(/10\.0\.0\.0\/33/);
    expect(() => parseEgressRules(['a..b'])).toThrow(/"a\.\.b"/);
    expect(() => parseEgressRules(['h.test:70000'])).toThrow(/h\.test:70000/);
  });

  it('no rules: nothing', () => {
    expect(decideEgress([], 'api.github.com', 443, [PUBLIC]).allowed).toBe(false);
  });

  it('domain rules: exact host, sub-domains for wildcards (not the apex), ports 80/443 unless named', () => {
    const rules = parseEgressRules(['api.github.com', '*.example.org', 'h.test:8443']);
    const ok = (h: string, p: number) => decideEgress(rules, h, p, [PUBLIC]).allowed;
    expect(ok('api.github.com', 443)).toBe(true);
    expect(ok('API.GitHub.com.', 80)).toBe(true);
    expect(ok('api.github.com', 22)).toBe(false);
    expect(ok('github.com', 443)).toBe(false);
    expect(ok('evilapi.github.com', 443)).toBe(false);
    expect(ok('a.b.example.org', 443)).toBe(true);
    expect(ok('example.org', 443)).toBe(false);
    expect(ok('badexample.org', 443)).toBe(false);
    expect(ok('h.test', 8443)).toBe(true);
    expect(ok('h.test', 443)).toBe(false);
    expect(decideEgress(rules, 'api.github.com', 443, [PUBLIC])).toMatchObject({ rule: 'api.github.com', address: PUBLIC });
  });

  it('special-purpose addresses are refused after resolution unless a CIDR names them', () => {
    const rules = parseEgressRules(['api.github.com', '*.internal.test']);
    for (const addr of ['127.0.0.1', '10.0.0.1', '172.20.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1']) {
      const d = decideEgress(rules, 'api.github.com', 443, [addr]);
      expect(d.allowed, addr).toBe(false);
      expect(d.reason).toContain(addr);
    }
    // one bad answer among good ones is enough to refuse
    expect(decideEgress(rules, 'api.github.com', 443, [PUBLIC, '127.0.0.1']).allowed).toBe(false);
    expect(decideEgress(rules, 'api.github.com', 443, []).allowed).toBe(false);
    const withCidr = parseEgressRules(['*.internal.test', '10.9.0.0/16']);
    expect(decideEgress(withCidr, 'db.internal.test', 5432, ['10.9.3.4'])).toMatchObject({ allowed: true, rule: '10.9.0.0/16' });
    expect(decideEgress(withCidr, '10.9.3.4', 22, ['10.9.3.4']).allowed).toBe(true);
    expect(decideEgress(withCidr, '10.10.0.1', 22, ['10.10.0.1']).allowed).toBe(false);
  });

  it('knows which addresses are special', () => {
    expect(specialPurpose('169.254.169.254')).toMatch(/link-local/);
    expect(specialPurpose('172.31.255.255')).toMatch(/private/);
    expect(specialPurpose('172.32.0.1')).toBeNull();
    expect(specialPurpose(PUBLIC)).toBeNull();
    expect(specialPurpose('::1')).toMatch(/not an IPv4/);
  });
});

describe('CIDR rules that open a special-purpose range (only an admin may deploy them)', () => {
  it('finds every rule overlapping one, wider or narrower, and none that does not', () => {
    const found = specialPurposeCidrs(parseEgressRules(['127.0.0.1/32', '0.0.0.0/0', '10.20.0.0/16', '169.254.169.254/32', '172.0.0.0/8', '100.128.0.0/16', 'api.example.com']));
    expect(found.map((f) => f.rule)).toEqual(['127.0.0.1/32', '0.0.0.0/0', '10.20.0.0/16', '169.254.169.254/32', '172.0.0.0/8']);
    expect(found[0]!.range).toMatch(/loopback/);
    expect(found[3]!.range).toMatch(/link-local/);
  });
});

/**
 * The egress allow-list of a manifest (`network.egress`), as a pure decision: may this agent
 * open a connection to host:port, given the IPv4 addresses the host resolved to? The proxy
 * resolves names; this module decides. No I/O, so every rule is unit-tested.
 *
 * Rules:
 *  - `api.example.com`      that exact host, ports 80 and 443
 *  - `*.example.com`        any sub-domain (not the apex), ports 80 and 443
 *  - `api.example.com:8443` that host, only that port
 *  - `10.1.2.0/24`          any address in the range, any port (also the only way to allow a
 *                           private, loopback or link-local destination)
 * Private, loopback, link-local (cloud metadata), CGNAT, multicast and reserved addresses are
 * always refused unless a CIDR rule names them, checked on the resolved address so a public
 * name that resolves to 127.0.0.1 is refused too.
 */

export type EgressRule =
  | { kind: 'domain'; pattern: string; wildcard: boolean; port: number | null; text: string }
  | { kind: 'cidr'; base: number; bits: number; text: string };

export interface EgressDecision {
  allowed: boolean;
  /** Why, in words an operator reads in the log. */
  reason: string;
  /** The rule that allowed it. */
  rule?: string;
  /** The address to connect to (pinned, so a second DNS answer cannot differ). */
  address?: string;
}

const DEFAULT_PORTS = [80, 443];

/** Ranges never reachable without an explicit CIDR rule (RFC 6890 special-purpose + private). */
const BLOCKED_RANGES: [string, string][] = [
  ['0.0.0.0/8', 'this network'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'carrier-grade NAT'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local (cloud metadata)'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'IETF protocol assignments'],
  ['192.0.2.0/24', 'documentation'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
];

export function parseIpv4(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

function parseCidr(text: string): { base: number; bits: number } | null {
  const [ip, bitsText] = text.split('/');
  const addr = parseIpv4(ip ?? '');
  const bits = Number(bitsText);
  if (addr === null || !Number.isInteger(bits) || bits < 0 || bits > 32) return null;
  return { base: (addr & mask(bits)) >>> 0, bits };
}

const mask = (bits: number): number => (bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0);
const inRange = (addr: number, r: { base: number; bits: number }): boolean => ((addr & mask(r.bits)) >>> 0) === r.base;

const BLOCKED = BLOCKED_RANGES.map(([cidr, why]) => ({ ...parseCidr(cidr)!, why, cidr }));

/** Why an address is special-purpose, or null when it is an ordinary public address. */
export function specialPurpose(address: string): string | null {
  const addr = parseIpv4(address);
  if (addr === null) return 'not an IPv4 address';
  const hit = BLOCKED.find((r) => inRange(addr, r));
  return hit ? `${hit.why} ${hit.cidr}` : null;
}

/**
 * The CIDR rules that open a special-purpose range (private, loopback, link-local, CGNAT, ...):
 * each with the range it overlaps. Only an admin may deploy such rules, and only where the
 * flock allows it (`egress.privateCidrs`); the proxy never reaches the host's own addresses
 * whatever the rules say.
 */
export function specialPurposeCidrs(rules: readonly EgressRule[]): { rule: string; range: string }[] {
  const out: { rule: string; range: string }[] = [];
  for (const r of rules) {
    if (r.kind !== 'cidr') continue;
    // Two ranges overlap when the wider one contains the narrower one's base.
    const hit = BLOCKED.find((b) => (b.bits <= r.bits ? inRange(r.base, b) : inRange(b.base, r)));
    if (hit) out.push({ rule: r.text, range: `${hit.why} ${hit.cidr}` });
  }
  return out;
}

/** Parse the manifest's rules; a bad one throws with the rule in the message. */
export function parseEgressRules(rules: readonly string[]): EgressRule[] {
  return rules.map((text) => {
    if (text.includes('/')) {
      const c = parseCidr(text);
      if (!c) throw new Error(`egress rule "${text}" is not a valid IPv4 CIDR`);
      return { kind: 'cidr', ...c, text };
    }
    const m = /^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)(:(\d{1,5}))?$/i.exec(text);
    const port = m?.[7] === undefined ? null : Number(m[7]);
    if (!m || (port !== null && (port < 1 || port > 65535))) throw new Error(`egress rule "${text}" is not a domain, "*.domain" or domain:port`);
    return { kind: 'domain', pattern: m[2]!.toLowerCase(), wildcard: m[1] !== undefined, port, text };
  });
}

function domainMatches(rule: Extract<EgressRule, { kind: 'domain' }>, host: string, port: number): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  const nameOk = rule.wildcard ? h.endsWith(`.${rule.pattern}`) : h === rule.pattern;
  const portOk = rule.port === null ? DEFAULT_PORTS.includes(port) : rule.port === port;
  return nameOk && portOk;
}

/**
 * Decide on a connection to `host:port` that resolved to `addresses`. Every resolved address
 * must be acceptable (a name with one private answer is refused: the client could be sent to
 * either). The first acceptable address is the one to connect to.
 */
export function decideEgress(rules: readonly EgressRule[], host: string, port: number, addresses: readonly string[]): EgressDecision {
  if (rules.length === 0) return { allowed: false, reason: 'the agent has no egress rules' };
  if (!Number.isInteger(port) || port < 1 || port > 65535) return { allowed: false, reason: `port ${port} is not valid` };
  if (addresses.length === 0) return { allowed: false, reason: `${host} did not resolve to an IPv4 address` };
  const cidrs = rules.filter((r): r is Extract<EgressRule, { kind: 'cidr' }> => r.kind === 'cidr');
  const domainRule = rules.find((r): r is Extract<EgressRule, { kind: 'domain' }> => r.kind === 'domain' && domainMatches(r, host, port));

  let allowedBy: string | undefined;
  for (const address of addresses) {
    const addr = parseIpv4(address);
    if (addr === null) return { allowed: false, reason: `${host} resolved to ${address}, which is not IPv4` };
    const cidr = cidrs.find((c) => inRange(addr, c));
    if (cidr) {
      allowedBy ??= cidr.text;
      continue;
    }
    const special = specialPurpose(address);
    if (special) return { allowed: false, reason: `${host} resolves to ${address} (${special}), which no CIDR rule allows` };
    if (!domainRule) return { allowed: false, reason: `${host}:${port} matches no egress rule` };
    allowedBy ??= domainRule.text;
  }
  return { allowed: true, reason: `allowed by rule "${allowedBy}"`, rule: allowedBy, address: addresses[0] };
}

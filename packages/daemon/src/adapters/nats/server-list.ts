/**
 * `NATS_URL` (config `nats.url`) names one server or, for a cluster, several separated by
 * commas (`nats://a:4222,nats://b:4222,nats://c:4222`). The daemon connects to them all as
 * one list, so nats.js fails over to another when the one it uses dies.
 */
export function natsServers(url: string): string[] {
  return url
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Why `url` is not a usable server list, or null when it is. */
export function natsServersProblem(url: string): string | null {
  const servers = natsServers(url);
  if (servers.length === 0) return 'names no server';
  for (const s of servers) {
    let parsed: URL;
    try {
      parsed = new URL(/^[a-z]+:\/\//i.test(s) ? s.replace(/^(nats|tls):/i, 'http:') : `http://${s}`);
    } catch {
      return `"${s}" is not a host:port or nats:// URL`;
    }
    if (!/^(nats|tls):\/\//i.test(s) && /^[a-z]+:\/\//i.test(s)) return `"${s}" must start with nats:// or tls://`;
    if (!parsed.hostname) return `"${s}" names no host`;
  }
  if (new Set(servers).size !== servers.length) return 'lists a server twice';
  return null;
}

/** Host and port of one server URL (port 4222 when none is given). */
export function hostPort(server: string): { host: string; port: number } {
  const parsed = new URL(/^[a-z]+:\/\//i.test(server) ? server.replace(/^(nats|tls):/i, 'http:') : `http://${server}`);
  return { host: parsed.hostname, port: Number(parsed.port || 4222) };
}

import * as z from 'zod';

/** A server or cluster name as nats-server takes it in its config and in JetStream's peer names. */
const NatsName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, 'letters, digits, "-" and "_", at most 63, starting with a letter or digit');
const Port = z.number().int().min(1).max(65535);

/** One nats-server of a flock's cluster: where clients, the other servers and monitoring reach it. */
export const NatsClusterServer = z
  .object({
    name: NatsName,
    /** The address the other servers and remote clients dial (a host name or IP of that host). */
    host: z.string().min(1).regex(/^[A-Za-z0-9.:[\]-]+$/, 'a host name or IP address'),
    clientPort: Port.default(4222),
    clusterPort: Port.default(6222),
    /** Monitoring (HTTP), on that host's loopback only. */
    monitorPort: Port.default(8222),
  })
  .strict();
export type NatsClusterServer = z.infer<typeof NatsClusterServer>;

/**
 * What `aiflock nats cluster` writes configuration for (docs/scale-out.md): three or more
 * servers routed to one another, JetStream clustered, every server trusting the flock's
 * operator with a full resolver so that all of them enforce the same credentials.
 */
export const NatsClusterLayout = z
  .object({
    /** The cluster's name (nats-server `cluster.name`); unset: `<flock>-nats`. */
    cluster: NatsName.optional(),
    servers: z
      .array(NatsClusterServer)
      // JetStream keeps a stream while a majority of its replicas live: three lose one and carry on.
      .min(3, 'a cluster needs at least three servers, so that losing one keeps a majority')
      .refine((s) => new Set(s.map((x) => x.name)).size === s.length, 'server names must differ')
      .refine((s) => new Set(s.flatMap((x) => [`${x.host}:${x.clientPort}`, `${x.host}:${x.clusterPort}`])).size === s.length * 2, 'two servers (or a server\'s client and cluster ports) share a host:port'),
    /** Each server keeps JetStream and account JWTs under `<storeDir>/<server name>` on its host. */
    storeDir: z.string().startsWith('/', 'an absolute path').default('/var/lib/aiflock-nats'),
    /** Where each server listens for clients: all addresses by default, so that its host's sandboxes reach it through their bridge. */
    clientListen: z.string().min(1).default('0.0.0.0'),
  })
  .strict();
export type NatsClusterLayout = z.input<typeof NatsClusterLayout>;

/** What the daemon hands back to the CLI: one config file per server, and the NATS_URL for the flock. */
export const NatsClusterFiles = z.object({
  cluster: z.string(),
  natsUrl: z.string(),
  servers: z.array(z.object({ name: z.string(), config: z.string() })),
});
export type NatsClusterFiles = z.infer<typeof NatsClusterFiles>;

import { Gauge, type Registry } from 'prom-client';
import type { AuditLog, Bus } from '@aiflock/core';

/** The audit chain is checked at most this often for the metric (a check reads every entry). */
const AUDIT_CHECK_EVERY_MS = 5 * 60_000;

/**
 * Gauges an alert can stand on: whether the control plane hears the bus and whether the
 * audit chain is intact; and the default metrics made acceptable to `promtool check metrics`.
 */
export function healthMetrics(registry: Registry, deps: { bus?: Partial<Pick<Bus, 'connectedSince'>> | undefined; audit: () => AuditLog | null; now?: () => number }) {
  const now = deps.now ?? Date.now;
  // prom-client also reports these counts as gauges named `*_total`, a suffix Prometheus
  // reserves for counters (`promtool check metrics` refuses them); the same counts stay
  // exposed without it (aiflock_daemon_nodejs_active_handles, ...).
  for (const name of ['handles', 'requests', 'resources']) registry.removeSingleMetric(`aiflock_daemon_nodejs_active_${name}_total`);
  const connectedSince = deps.bus?.connectedSince?.bind(deps.bus);
  if (connectedSince) {
    new Gauge({ name: 'aiflock_bus_connected', help: 'Whether the control plane is connected to the NATS bus (1) or not (0)', registers: [registry], collect() { this.set(connectedSince() ? 1 : 0); } });
  }
  let checked: { at: number; ok: boolean } | null = null;
  new Gauge({
    name: 'aiflock_audit_chain_intact',
    help: `Whether the audit log's hash chain verified (1) or was found tampered with (0); checked at most every ${AUDIT_CHECK_EVERY_MS / 60_000} minutes`,
    registers: [registry],
    async collect() {
      const audit = deps.audit();
      if (!audit) return;
      if (!checked || now() - checked.at >= AUDIT_CHECK_EVERY_MS) checked = { at: now(), ok: (await audit.verify()).ok };
      this.set(checked.ok ? 1 : 0);
    },
  });
}

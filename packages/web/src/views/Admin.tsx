import { AgentsAdmin } from './admin/Agents.js';
import { AuditAdmin } from './admin/Audit.js';
import { ContextAdmin } from './admin/Context.js';
import { EconomyAdmin } from './admin/Economy.js';
import { JobsAdmin } from './admin/Jobs.js';
import { NodesAdmin } from './admin/Nodes.js';
import { TokensAdmin } from './admin/Tokens.js';

export const ADMIN_TABS = [
  { id: 'agents', label: 'Agents' },
  { id: 'jobs', label: 'Jobs' },
  { id: 'nodes', label: 'Nodes' },
  { id: 'economy', label: 'Ledger & tiers' },
  { id: 'context', label: 'Context' },
  { id: 'tokens', label: 'Tokens' },
  { id: 'audit', label: 'Audit log' },
] as const;
export type AdminTab = (typeof ADMIN_TABS)[number]['id'];

/** Admin pages; the app shows them only to admin sessions, and the API refuses anyone else anyway. */
export function Admin({ tab }: { tab: AdminTab }) {
  return (
    <div className="admin">
      <nav aria-label="Admin sections" className="subnav">
        {ADMIN_TABS.map((t) => (
          <a key={t.id} href={`#/admin/${t.id}`} aria-current={t.id === tab ? 'page' : undefined}>
            {t.label}
          </a>
        ))}
      </nav>
      {tab === 'agents' && <AgentsAdmin />}
      {tab === 'jobs' && <JobsAdmin />}
      {tab === 'nodes' && <NodesAdmin />}
      {tab === 'economy' && <EconomyAdmin />}
      {tab === 'context' && <ContextAdmin />}
      {tab === 'tokens' && <TokensAdmin />}
      {tab === 'audit' && <AuditAdmin />}
    </div>
  );
}

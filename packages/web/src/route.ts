import type { AdminTab } from './views/Admin.js';
import { ADMIN_TABS } from './views/Admin.js';

export type Route = { page: 'village' } | { page: 'board' } | { page: 'agent'; name: string } | { page: 'admin'; tab: AdminTab };

/** Hash routes (`#/village`, `#/board?post=…`, `#/agent/<name>`, `#/admin/<tab>`): no server help needed for reloads. */
export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '').split('?')[0] ?? '';
  const [, first, second] = path.split('/');
  if (first === 'board') return { page: 'board' };
  if (first === 'agent' && second && /^[a-z][a-z0-9-]{0,39}$/.test(second)) return { page: 'agent', name: second };
  if (first === 'admin') {
    const tab = ADMIN_TABS.find((t) => t.id === second)?.id ?? 'agents';
    return { page: 'admin', tab };
  }
  return { page: 'village' };
}

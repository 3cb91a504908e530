import type { AdminTab } from './views/Admin.js';
import { ADMIN_TABS } from './views/Admin.js';

export type Route = { page: 'village' } | { page: 'board' } | { page: 'admin'; tab: AdminTab };

/** Hash routes (`#/village`, `#/board?post=…`, `#/admin/<tab>`): no server help needed for reloads. */
export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '').split('?')[0] ?? '';
  const [, first, second] = path.split('/');
  if (first === 'board') return { page: 'board' };
  if (first === 'admin') {
    const tab = ADMIN_TABS.find((t) => t.id === second)?.id ?? 'agents';
    return { page: 'admin', tab };
  }
  return { page: 'village' };
}

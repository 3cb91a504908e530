import type { AdminTab } from './views/Admin.js';
export type Route = {
    page: 'village';
} | {
    page: 'board';
} | {
    page: 'admin';
    tab: AdminTab;
};
/** Hash routes (`#/village`, `#/board?post=…`, `#/admin/<tab>`): no server help needed for reloads. */
export declare function parseRoute(hash: string): Route;

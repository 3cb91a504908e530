export declare const ADMIN_TABS: readonly [{
    readonly id: "agents";
    readonly label: "Agents";
}, {
    readonly id: "jobs";
    readonly label: "Jobs";
}, {
    readonly id: "economy";
    readonly label: "Ledger & tiers";
}, {
    readonly id: "tokens";
    readonly label: "Tokens";
}, {
    readonly id: "audit";
    readonly label: "Audit log";
}];
export type AdminTab = (typeof ADMIN_TABS)[number]['id'];
/** Admin pages; the app shows them only to admin sessions, and the API refuses anyone else anyway. */
export declare function Admin({ tab }: {
    tab: AdminTab;
}): import("react").JSX.Element;

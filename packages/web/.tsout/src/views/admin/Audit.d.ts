/** The audit log, newest first, filtered by actor or action; and a check of its hash chain. */
export declare function AuditAdmin(): import("react").JSX.Element;

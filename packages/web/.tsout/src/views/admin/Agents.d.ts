/** Agents: deploy from a manifest, scale, stop, quarantine, release, kill, remove, live logs. */
export declare function AgentsAdmin(): import("react").JSX.Element;

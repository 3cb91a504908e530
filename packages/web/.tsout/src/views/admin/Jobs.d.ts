/** Jobs: create, list, watch one's live stream, cancel. */
export declare function JobsAdmin(): import("react").JSX.Element;

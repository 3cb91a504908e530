/** Loads on mount, when `key` changes and on `reload()`; keeps the last error's message. */
export declare function useLoad<T>(load: () => Promise<T>, key?: string): {
    data: T | null;
    error: string | null;
    reload: () => void;
};
/** Runs an action, reporting success or the API's message. */
export declare function useAction(): {
    busy: boolean;
    message: {
        ok?: string;
        error?: string;
    } | null;
    run: (fn: () => Promise<string>) => Promise<void>;
};
export declare function Message({ message }: {
    message: {
        ok?: string;
        error?: string;
    } | null;
}): import("react").JSX.Element | null;

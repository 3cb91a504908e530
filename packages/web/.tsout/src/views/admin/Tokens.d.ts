/** Tokens: list (never secrets), create (the secret is shown once), revoke. */
export declare function TokensAdmin(): import("react").JSX.Element;

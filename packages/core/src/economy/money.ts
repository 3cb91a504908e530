// Money's representation (integer cents) is part of the contract the CLI and web UI share.
export { CENTS_PER_AIDOLLAR, MAX_TRANSFER_CENTS, isValidAmount, formatAiDollars, parseAiDollars } from '@aiflock/protocol';

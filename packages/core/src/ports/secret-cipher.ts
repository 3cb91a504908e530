/**
 * Seals secret values for storage. The adapter holds the key (outside the store), so a copy
 * of the database alone does not reveal a value. `context` (the secret's name) is bound to the
 * sealed text: a value moved to another name does not open.
 */
export interface SecretCipher {
  seal(plaintext: string, context: string): string;
  open(sealed: string, context: string): string;
}

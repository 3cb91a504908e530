import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { FlockError, type SecretCipher } from '@aiflock/core';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const VERSION = 'v1';

/**
 * AES-256-GCM with a random 96-bit IV per value and the secret's name as associated data.
 * The key lives in a file of its own (0600, root's data dir), not in the database: a stolen
 * or backed-up database alone reveals nothing. Someone who can read the data dir as the
 * daemon's user has both and can open every value; this does not protect against that.
 */
export class SecretBox implements SecretCipher {
  private constructor(private readonly key: Buffer) {}

  /** Load the key, creating it (exclusively, 0600) on first use. */
  static async fromKeyFile(path: string): Promise<SecretBox> {
    try {
      const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        await fh.writeFile(randomBytes(KEY_BYTES).toString('base64'));
      } finally {
        await fh.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const st = await stat(path);
    if ((st.mode & 0o077) !== 0) {
      throw new FlockError('internal', `${path} (the secrets key) is readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
    }
    const key = Buffer.from((await readFile(path, 'utf8')).trim(), 'base64');
    if (key.length !== KEY_BYTES) throw new FlockError('internal', `${path} does not hold a ${KEY_BYTES}-byte base64 key`);
    return new SecretBox(key);
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${VERSION}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  open(sealed: string, context: string): string {
    const [version, data] = sealed.split(':');
    if (version !== VERSION || !data) throw new FlockError('internal', `secret ${context}: unknown sealed format`);
    const raw = Buffer.from(data, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new FlockError('internal', `secret ${context} does not open with this flock's key (tampered, moved, or another key file)`);
    }
  }
}

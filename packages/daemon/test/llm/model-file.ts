import { join } from 'node:path';

/** The real 1.2 MB story model the project ships for tests (completion, not instruct). */
export const STORIES_MODEL = join(import.meta.dirname, '..', '..', '..', '..', '..', 'shared', 'models', 'stories260K.gguf');

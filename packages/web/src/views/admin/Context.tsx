import { useState, type FormEvent } from 'react';
import type { SearchQuery, SearchResult } from '@aiflock/protocol';
import { api } from '../../api.js';
import { Message, useAction, useLoad } from './use-load.js';

type Mode = SearchQuery['mode'];
const MODES: readonly Mode[] = ['hybrid', 'keyword', 'vector'];

interface Collection {
  name: string;
  model: string;
  dimension: number;
}

const rank = (r: number | null) => (r === null ? '–' : `#${r}`);

/**
 * Search the context plane as an agent's job would see it: query, collection, mode and topK;
 * each hit with where it came from, its fused score and its keyword and vector ranks.
 * Snippets are ingested text: React renders them as text, never as HTML.
 */
export function ContextAdmin() {
  const collections = useLoad(() => api<{ collections: Collection[] }>('/v1/context/collections'));
  const [q, setQ] = useState('');
  const [collection, setCollection] = useState('');
  const [mode, setMode] = useState<Mode>('hybrid');
  const [topK, setTopK] = useState('10');
  const [result, setResult] = useState<SearchResult | null>(null);
  const { busy, message, run } = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const params = new URLSearchParams({ q: q.trim(), mode, topK });
      if (collection) params.set('collection', collection);
      const out = await api<SearchResult>(`/v1/context/search?${params}`);
      setResult(out);
      return `${out.hits.length} ${out.hits.length === 1 ? 'hit' : 'hits'} (${out.mode})`;
    });
  };
  return (
    <section aria-labelledby="context-title">
      <h2 id="context-title">Context search</h2>
      {collections.error && <p role="alert" className="error">{collections.error}</p>}
      <form className="inline-form" onSubmit={submit} aria-label="Search the context">
        <label>
          Query
          <input type="search" required value={q} onChange={(e) => setQ(e.target.value)} name="context-q" maxLength={2000} />
        </label>
        <label>
          Collection
          <select value={collection} onChange={(e) => setCollection(e.target.value)} name="context-collection">
            <option value="">all collections</option>
            {collections.data?.collections.map((c) => (
              <option key={c.name} value={c.name}>
                {c.name} ({c.model}, {c.dimension}d)
              </option>
            ))}
          </select>
        </label>
        <label>
          Mode
          <select value={mode} onChange={(e) => setMode(e.target.value as Mode)} name="context-mode">
            {MODES.map((m) => (
              <option key={m}>{m}</option>
            ))}
          </select>
        </label>
        <label>
          Top K
          <input type="number" required min={1} max={100} value={topK} onChange={(e) => setTopK(e.target.value)} name="context-topk" />
        </label>
        <button type="submit" disabled={busy}>
          Search
        </button>
        <Message message={message} />
      </form>
      {result && result.notes.length > 0 && (
        <ul className="notes" aria-label="Search notes">
          {result.notes.map((n) => (
            <li key={n}>{n}</li>
          ))}
        </ul>
      )}
      {result && (
        <ol className="hits" aria-label="Search results">
          {result.hits.map((h) => (
            <li key={h.id} className="hit" data-hit={h.documentId}>
              <h3 className="hit-title">
                {h.title ?? h.documentId}
                {h.heading && <span className="hit-heading"> › {h.heading}</span>}
              </h3>
              <p className="p-meta">
                {h.collection} · <span className="hit-source">{h.source}</span> · score {h.score.toFixed(4)} · keyword {rank(h.keywordRank)} · vector {rank(h.vectorRank)}
              </p>
              <p className="hit-snippet" data-testid="hit-snippet">
                {h.snippet}
              </p>
            </li>
          ))}
          {result.hits.length === 0 && <li>No hits.</li>}
        </ol>
      )}
    </section>
  );
}

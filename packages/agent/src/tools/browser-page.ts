/**
 * What the browser tool reads from a page, and how it shows it to the model. The reading
 * runs inside the page (Chromium), so it is a script in a string: the agent package is
 * compiled without DOM types, and a string is exactly what reaches the page.
 */

export interface PageLink {
  text: string;
  href: string;
}

export interface PageField {
  /** A selector `fill` and `click` accept (CSS, or Playwright's `text=`). */
  selector: string;
  describe: string;
}

export interface PageSnapshot {
  title: string;
  url: string;
  /** The main content as text, readability-style: no scripts, navigation, headers or footers. */
  text: string;
  links: PageLink[];
  fields: PageField[];
}

export const MAX_LINKS = 200;
const MAX_FIELDS = 50;

/**
 * Reads the main content (the `main`/`article`/`[role=main]` element when it has text, else
 * the body), walking the live DOM so hidden elements and page chrome are skipped and block
 * elements keep their line breaks; every http(s) link of the page; and the form fields.
 */
export const READ_PAGE_SCRIPT = `(() => {
  const SKIP = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'SVG', 'CANVAS', 'IFRAME', 'NAV', 'HEADER', 'FOOTER', 'ASIDE']);
  const BLOCK = /^(P|DIV|LI|UL|OL|H[1-6]|TR|TABLE|SECTION|ARTICLE|MAIN|PRE|BLOCKQUOTE|DT|DD|DL|FIGURE|FIGCAPTION|FORM|FIELDSET|BR|HR)$/;
  const squash = (s) => s.replace(/\\s+/g, ' ').trim();
  const hidden = (el) => {
    if (el.hidden || el.getAttribute('aria-hidden') === 'true') return true;
    const st = getComputedStyle(el);
    return st.display === 'none' || st.visibility === 'hidden';
  };
  const out = [];
  const walk = (node) => {
    if (node.nodeType === 3) { out.push(node.nodeValue.replace(/\\s+/g, ' ')); return; }
    if (node.nodeType !== 1) return;
    const el = node;
    const tag = el.tagName.toUpperCase();
    if (SKIP.has(tag) || hidden(el)) return;
    const block = BLOCK.test(tag);
    if (block) out.push('\\n');
    if (/^H[1-6]$/.test(tag)) out.push('#'.repeat(Number(tag[1])) + ' ');
    if (tag === 'LI') out.push('- ');
    for (const child of el.childNodes) walk(child);
    if (block) out.push('\\n');
  };
  const main = document.querySelector('main, article, [role=main]');
  const root = main && squash(main.textContent || '').length >= 200 ? main : document.body;
  if (root) walk(root);
  const text = out.join('').split('\\n').map((l) => l.replace(/ +/g, ' ').trim()).join('\\n').replace(/\\n{3,}/g, '\\n\\n').trim();

  const links = [];
  const seen = new Set();
  for (const a of document.querySelectorAll('a[href]')) {
    if (!/^https?:$/.test(a.protocol)) continue;
    const label = squash(a.innerText || a.getAttribute('aria-label') || a.title || '').slice(0, 200);
    const key = label + ' ' + a.href;
    if (seen.has(key)) continue;
    seen.add(key);
    links.push({ text: label, href: a.href });
    if (links.length >= ${MAX_LINKS}) break;
  }

  const quote = (s) => JSON.stringify(s);
  const fields = [];
  for (const el of document.querySelectorAll('input, textarea, select, button')) {
    const type = (el.getAttribute('type') || '').toLowerCase();
    if (type === 'hidden' || hidden(el)) continue;
    const tag = el.tagName.toLowerCase();
    const label = squash((el.labels && el.labels[0] && el.labels[0].innerText) || el.getAttribute('aria-label') || el.placeholder || '');
    const shown = tag === 'button' || type === 'submit' || type === 'button' ? squash(el.innerText || el.value || '') : '';
    const selector = el.id ? '#' + CSS.escape(el.id)
      : el.name ? tag + '[name=' + quote(el.name) + ']'
      : shown ? 'text=' + quote(shown) : tag;
    fields.push({ selector, describe: [tag + (type ? ' ' + type : ''), label && 'label ' + quote(label), shown && quote(shown)].filter(Boolean).join(', ') });
    if (fields.length >= ${MAX_FIELDS}) break;
  }
  return { title: document.title || '', url: location.href, text, links, fields };
})()`;

/** The page as the model reads it: title, URL, text, then numbered links and the form fields. */
export function formatSnapshot(p: PageSnapshot): string {
  const parts = [`Title: ${p.title || '(none)'}`, `URL: ${p.url}`, '', p.text || '(no text)'];
  if (p.links.length > 0) {
    parts.push('', 'Links (follow by number or text):', ...p.links.map((l, i) => `[${i}] ${l.text || '(no text)'} -> ${l.href}`));
  }
  if (p.fields.length > 0) {
    parts.push('', 'Form fields (fill or click by selector):', ...p.fields.map((f) => `- ${f.selector} (${f.describe})`));
  }
  return parts.join('\n');
}

/** The link `follow` means: its index, else its text exactly, else a link whose text contains it, else its URL. */
export function findLink(links: readonly PageLink[], which: number | string): PageLink | undefined {
  if (typeof which === 'number') return links[which];
  const want = which.trim().toLowerCase();
  return (
    links.find((l) => l.text.toLowerCase() === want) ??
    links.find((l) => want.length > 0 && l.text.toLowerCase().includes(want)) ??
    links.find((l) => l.href === which.trim())
  );
}

import { useCallback, useEffect, useState } from 'react';
import { api, onSignedOut } from './api.js';
import type { LinkState } from './live-socket.js';
import { parseRoute, type Route } from './route.js';
import { isAdmin, loadSession, saveSession, type Session } from './session.js';
import { Admin } from './views/Admin.js';
import { AgentPage } from './views/AgentPage.js';
import { Board } from './views/Board.js';
import { SignIn } from './views/SignIn.js';
import { Village } from './views/Village.js';

export function App() {
  const [session, setSession] = useState<Session | null>(() => loadSession());
  const [notice, setNotice] = useState<string | null>(null);
  const [route, setRoute] = useState<Route>(() => parseRoute(location.hash));
  const [links, setLinks] = useState<Record<string, LinkState>>({});

  useEffect(() => {
    const onHash = () => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  useEffect(
    () =>
      onSignedOut(() => {
        saveSession(null);
        setSession(null);
        setNotice('Your session ended (expired, revoked or signed out elsewhere). Sign in again.');
      }),
    [],
  );

  // The sockets report here; the banner shows while any of them is down.
  // A retry ('connecting') after a loss is still offline until the socket opens again.
  const onLink = useCallback(
    (name: string, state: LinkState) => {
      // A socket refused for want of a session looks like any lost socket; one cheap request
      // tells them apart (a 401 signs the page out instead of retrying forever).
      if (state === 'offline') void api('/v1/board/posts?limit=1').catch(() => undefined);
      setLinks((l) => {
        const next = state === 'connecting' && l[name] === 'offline' ? 'offline' : state;
        return l[name] === next ? l : { ...l, [name]: next };
      });
    },
    [],
  );
  useEffect(() => setLinks({}), [route.page]);

  const signOut = async () => {
    await api('/v1/session', { method: 'DELETE' }).catch(() => undefined);
    saveSession(null);
    setSession(null);
    setNotice('Signed out.');
  };

  if (!session) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(s) => {
          saveSession(s);
          setSession(s);
          setNotice(null);
        }}
      />
    );
  }

  const admin = isAdmin(session);
  const offline = Object.entries(links).filter(([, s]) => s === 'offline');
  const page = route.page === 'admin' && !admin ? 'forbidden' : route.page;
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <h1>aiflock</h1>
        <nav aria-label="Main">
          <a href="#/village" aria-current={route.page === 'village' ? 'page' : undefined}>
            Village
          </a>
          <a href="#/board" aria-current={route.page === 'board' ? 'page' : undefined}>
            Board
          </a>
          {admin && (
            <a href="#/admin/agents" aria-current={route.page === 'admin' ? 'page' : undefined}>
              Admin
            </a>
          )}
        </nav>
        <div className="who">
          <span>
            Signed in as{' '}
            <strong data-testid="actor" title={session.actor.id}>
              {session.actor.name ?? session.actor.id}
            </strong> ({admin ? 'admin' : session.actor.scopes.join(', ')})
          </span>
          <button type="button" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      {offline.length > 0 && (
        <div className="banner" role="alert" data-testid="offline-banner">
          Offline: lost the live connection ({offline.map(([n]) => n).join(', ')}). Reconnecting…
        </div>
      )}
      <main id="main" tabIndex={-1}>
        {page === 'village' && <Village onLink={onLink} />}
        {page === 'board' && <Board onLink={onLink} admin={admin} />}
        {page === 'agent' && route.page === 'agent' && <AgentPage name={route.name} />}
        {page === 'admin' && route.page === 'admin' && <Admin tab={route.tab} />}
        {page === 'forbidden' && (
          <p role="alert" className="error">
            The admin pages are for admin tokens only.
          </p>
        )}
      </main>
    </>
  );
}

import type { FastifyPluginAsync } from 'fastify';
import type { TokenRecord } from '@aiflock/core';
import { CreatedToken, CreateSessionRequest, CreateTokenRequest, SessionView, TokenIdParams, TokenList, TokenView } from '@aiflock/protocol';
import { SESSION_COOKIE } from '../auth.js';
import type { ApiContext } from '../context.js';
import { audited } from '../audited.js';
import { parseInput } from '../errors.js';
import { route } from '../route-doc.js';

export function tokenView(t: TokenRecord): TokenView {
  return { id: t.id, name: t.name, scopes: t.scopes, createdAt: t.createdAt, lastUsedAt: t.lastUsedAt, expiresAt: t.expiresAt, revoked: t.revoked };
}

/** Token management (admin only) and browser sign-in. */
export const authRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    app.post('/tokens', route('admin', { summary: 'Create a token; the secret is in the answer and never again', body: CreateTokenRequest, response: CreatedToken, status: 201 }), async (req, reply) => {
      // Token changes are audited (issue 5); the entry names the token and its scopes, never the secret.
      const { token, record } = await audited(
        ctx.audit,
        req,
        'token.create',
        'token',
        async () => ctx.auth.createToken(parseInput(CreateTokenRequest, req.body, 'body')),
        (r) => ({ resource: `token/${r.record.id}`, details: { name: r.record.name, scopes: r.record.scopes, expiresAt: r.record.expiresAt } }),
      );
      req.log.info({ actor: req.actor?.id, tokenId: record.id, scopes: record.scopes }, 'token created');
      return reply.status(201).send({ ...tokenView(record), token });
    });

    app.get('/tokens', route('admin', { summary: 'List tokens (never their secrets)', response: TokenList }), async () => ({
      tokens: (await ctx.auth.list()).map(tokenView),
    }));

    app.post('/tokens/:id/revoke', route('admin', { summary: 'Revoke a token and end its sessions', params: TokenIdParams, body: null, response: TokenView, errors: ['token_not_found'] }), async (req) => {
      const { id } = parseInput(TokenIdParams, req.params, 'params');
      const record = await audited(ctx.audit, req, 'token.revoke', `token/${id}`, () => ctx.auth.revoke(id));
      req.log.info({ actor: req.actor?.id, tokenId: id }, 'token revoked');
      return tokenView(record);
    });

    // Public: the token in the body is the credential. The cookie is HttpOnly (scripts cannot
    // read it) and SameSite=Strict (other sites cannot send it); changes made with it also need
    // the CSRF token, which only our own pages receive in this answer.
    app.post('/session', route('public', { summary: 'Sign in a browser: exchange a token for a session cookie', body: CreateSessionRequest, response: SessionView, status: 201 }), async (req, reply) => {
      const { token } = parseInput(CreateSessionRequest, req.body, 'body');
      const s = await ctx.auth.createSession(token);
      void reply.setCookie(SESSION_COOKIE, s.cookie, {
        httpOnly: true,
        sameSite: 'strict',
        path: '/',
        secure: req.protocol === 'https',
        expires: new Date(s.expiresAt),
      });
      const name = (await ctx.store.tokens.get(s.actor.id))?.name ?? s.actor.id;
      return reply.status(201).send({ actor: { id: s.actor.id, name, scopes: s.actor.scopes }, csrfToken: s.csrfToken, expiresAt: s.expiresAt });
    });

    app.delete('/session', route('public', { summary: 'Sign out: end the session of this cookie', status: 204 }), async (req, reply) => {
      const cookie = req.cookies[SESSION_COOKIE];
      if (cookie) await ctx.auth.endSession(cookie);
      void reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.status(204).send();
    });
  };

import type { FastifyPluginAsync } from 'fastify';
import { SecretList, SecretNameParams as NameParams, SecretView, SetSecretRequest } from '@aiflock/protocol';
import type { ApiContext } from '../context.js';
import { audited } from '../audited.js';
import { parseInput } from '../errors.js';
import { route } from '../route-doc.js';

/** Named secrets: set, list names, remove (admin, audited). There is deliberately no route that reads a value. */
export const secretRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    app.get('/secrets', route('admin', { summary: 'Secret names and dates (never values)', response: SecretList }), async () => ({ secrets: await ctx.secrets.list() }));

    app.put('/secrets/:name', route('admin', { summary: 'Set a secret (the value is sealed at rest)', params: NameParams, body: SetSecretRequest, response: SecretView, status: [201, 200] }), async (req, reply) => {
      const { name } = parseInput(NameParams, req.params, 'params');
      const out = await audited(ctx.audit, req, 'secret.set', `secret/${name}`, () => ctx.secrets.set(name, parseInput(SetSecretRequest, req.body, 'body').value));
      return reply.status(out.created ? 201 : 200).send(out.secret);
    });

    app.delete('/secrets/:name', route('admin', { summary: 'Remove a secret', params: NameParams, status: 204, errors: ['secret_not_found'] }), async (req, reply) => {
      const { name } = parseInput(NameParams, req.params, 'params');
      await audited(ctx.audit, req, 'secret.remove', `secret/${name}`, () => ctx.secrets.remove(name));
      return reply.status(204).send();
    });
  };

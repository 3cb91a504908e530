import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import WebSocket from 'ws';
import { TaskStep, type ChatMessage, type SentChatMessage } from '@aiflock/protocol';
import { CliError, type ApiClient } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { printJson, println } from '../output.js';
import { formatStep } from '../steps.js';

interface ChatEvent {
  type: string;
  payload: { taskId?: string; event?: { type: string; payload: unknown } } & Partial<ChatMessage>;
}

/**
 * `aiflock chat <agent>`: talk with an agent that runs the tool loop. Each message becomes a
 * task; its steps stream as they happen, then the answer. When the agent asks a question,
 * the next line typed answers it.
 */
export function chatCommand(program: Command, client: () => ApiClient): void {
  program
    .command('chat')
    .description("chat with an agent (its tool loop): interactive, or one message with -m; the agent's steps stream as it works")
    .argument('<agent>')
    .option('-m, --message <text>', 'send one message, print the answer and exit (exit 5 if the task fails; a question is printed with how to answer)')
    .option('--json', 'with -m: print the message, the steps and the reply as JSON')
    .addHelpText('after', '\nNeeds a token with the chat scope (human tokens have it). Each person has one thread per agent; see it with --json history via the API: GET /v1/agents/<agent>/messages.')
    .action(async (agent: string, o: { message?: string; json?: boolean }) => {
      const api = client();
      const chat = await ChatStream.open(api, agent);
      try {
        if (o.message !== undefined) return await oneShot(api, chat, agent, o.message, o.json === true);
        if (o.json) throw new CliError('--json needs -m (one message)', EXIT.usage);
        await interactive(api, chat, agent);
      } finally {
        chat.close();
      }
    });
}

async function oneShot(api: ApiClient, chat: ChatStream, agent: string, text: string, json: boolean): Promise<void> {
  const sent = await api.post<SentChatMessage>(`/v1/agents/${encodeURIComponent(agent)}/messages`, { text });
  const steps: unknown[] = [];
  const reply = await chat.replyTo(sent.taskId, (step) => (json ? steps.push(step) : println(formatStep(step))));
  if (json) printJson({ message: sent.message, taskId: sent.taskId, delivered: sent.delivered, steps, reply });
  else printReply(agent, reply, sent.taskId);
  if (reply.kind === 'error') process.exitCode = EXIT.taskUnsuccessful;
}

async function interactive(api: ApiClient, chat: ChatStream, agent: string): Promise<void> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  println(`chatting with ${agent}; an empty line or Ctrl-D ends`);
  try {
    for (;;) {
      const text = (await rl.question('you> ').catch(() => '')).trim();
      if (!text) return;
      const sent = await api.post<SentChatMessage>(`/v1/agents/${encodeURIComponent(agent)}/messages`, { text });
      const reply = await chat.replyTo(sent.taskId, (step) => println(formatStep(step)));
      printReply(agent, reply, null);
    }
  } finally {
    rl.close();
  }
}

function printReply(agent: string, m: ChatMessage, taskId: string | null): void {
  if (m.kind === 'question') {
    println(`${agent} asks> ${m.text}`);
    if (taskId) println(`(answer with: aiflock chat ${agent} -m "..."  or  aiflock task answer ${taskId} "...")`);
  } else println(`${agent}${m.kind === 'error' ? ' (failed)' : ''}> ${m.text}`);
}

/** `WS /v1/ws/chat/<agent>`: opened before a message is sent, so no step or reply is missed. */
class ChatStream {
  private readonly queue: ChatEvent[] = [];
  private wake: (() => void) | null = null;
  private closed: string | null = null;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (d) => {
      this.queue.push(JSON.parse(String(d)) as ChatEvent);
      this.wake?.();
    });
    ws.on('close', (code, reason) => {
      this.closed = `the chat stream closed (${code}${reason.length ? `: ${String(reason)}` : ''})`;
      this.wake?.();
    });
  }

  static async open(api: ApiClient, agent: string): Promise<ChatStream> {
    const url = `${api.baseUrl.replace(/^http/, 'ws')}/v1/ws/chat/${encodeURIComponent(agent)}`;
    const ws = new WebSocket(url, { headers: api.authorization() });
    const stream = new ChatStream(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new CliError(`the chat stream was refused (HTTP ${res.statusCode}); the token needs the chat scope`, res.statusCode === 404 ? EXIT.notFound : EXIT.auth)));
      ws.once('error', (err) => reject(new CliError(`cannot open the chat stream at ${url} (${err.message})`, EXIT.unreachable)));
    });
    return stream;
  }

  /** Print the steps of `taskId` as they come; resolves with the agent's message about it (answer, question or error). */
  async replyTo(taskId: string, onStep: (s: TaskStep) => void): Promise<ChatMessage> {
    for (;;) {
      const e = this.queue.shift();
      if (!e) {
        if (this.closed) throw new CliError(this.closed, EXIT.failure);
        await new Promise<void>((r) => (this.wake = r));
        this.wake = null;
        continue;
      }
      if (e.type === 'error') throw new CliError(`chat stream: ${String((e.payload as { message?: string }).message)}`, EXIT.failure);
      if (e.type === 'task' && e.payload.taskId === taskId && e.payload.event?.type === 'step') {
        const step = TaskStep.safeParse(e.payload.event.payload);
        if (step.success) onStep(step.data);
      }
      if (e.type === 'message' && e.payload.role === 'agent' && e.payload.taskId === taskId) return e.payload as ChatMessage;
    }
  }

  close(): void {
    this.ws.close();
  }
}

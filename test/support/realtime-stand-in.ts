import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { UpstreamStandIn } from './upstream-stand-in.js';

/**
 * A Realtime stand-in: a WebSocket server at /v1/realtime that opens with
 * session.created, echoes binary frames back, and answers each
 * response.create with response.done carrying the usage the test set, as
 * OpenAI's reference shapes it (input_token_details with cached_tokens_details,
 * output_token_details).
 */
export class RealtimeStandIn extends UpstreamStandIn {
  private http?: Server;
  private wss?: WebSocketServer;
  upgrades: { url: string; authorization?: string; xUser?: string }[] = [];
  usage: Record<string, unknown> = {};
  /** Close the connection instead of answering the n-th response.create (1-based). */
  cutOffAt = 0;

  override async start(): Promise<string> {
    this.http = createServer((_req, res) => res.writeHead(404).end());
    this.wss = new WebSocketServer({ server: this.http, path: '/v1/realtime' });
    this.wss.on('connection', (ws, req) => {
      this.upgrades.push({ url: req.url ?? '', authorization: req.headers.authorization, xUser: req.headers['x-user'] as string | undefined });
      let responses = 0;
      ws.send(JSON.stringify({ type: 'session.created', event_id: 'event_1', session: { object: 'realtime.session', id: 'sess_1', model: 'gpt-realtime' } }));
      ws.on('message', (data, isBinary) => {
        if (isBinary) return ws.send(data, { binary: true });
        const event = JSON.parse(String(data));
        if (event.type !== 'response.create') return;
        responses++;
        if (responses === this.cutOffAt) return ws.terminate();
        ws.send(JSON.stringify({ type: 'response.created', event_id: `event_c${responses}`, response: { id: `resp_${responses}`, status: 'in_progress' } }));
        ws.send(
          JSON.stringify({
            type: 'response.done',
            event_id: `event_d${responses}`,
            response: { object: 'realtime.response', id: `resp_${responses}`, status: 'completed', output: [], usage: this.usage },
          }),
        );
      });
    });
    await new Promise<void>((resolve) => this.http!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.http.address() as AddressInfo).port}/v1`;
  }

  override async stop(): Promise<void> {
    for (const c of this.wss?.clients ?? []) c.terminate();
    this.wss?.close();
    await new Promise<void>((resolve) => this.http?.close(() => resolve()) ?? resolve());
  }
}

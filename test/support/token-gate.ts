import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback stand-in for an admin token in front of the proxy: every request but the dashboard's own files needs
 * `Authorization: Bearer <token>`, else 401 with a JSON message; the rest is passed to the proxy as it is. It lets
 * the dashboard's token handling be tried against a proxy that has no admin token of its own.
 */
export class TokenGate {
  private server?: Server;
  /** Authorization headers the gate saw, by path. */
  readonly seen: { path: string; authorization?: string }[] = [];

  constructor(
    private readonly target: string,
    private readonly token: string,
  ) {}

  async start(): Promise<string> {
    const target = new URL(this.target);
    this.server = createServer((req, res) => {
      const path = req.url ?? '/';
      this.seen.push({ path, authorization: req.headers.authorization });
      if (!path.startsWith('/dashboard') && req.headers.authorization !== `Bearer ${this.token}`) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: 401, error: 'Unauthorized', code: 'admin_token_required', message: 'this route needs the admin token' }));
        return;
      }
      const upstream = request({ host: target.hostname, port: target.port, method: req.method, path, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A loopback port that refuses connections until started, then relays them
 * to a target: a database server "coming back" at the address a proxy was
 * given, without touching the real server other tests share.
 */
export class TcpRelay {
  private server?: Server;
  private readonly sockets = new Set<Socket>();

  private constructor(readonly port: number) {}

  /** Reserves a free port (nothing listens on it yet: connections are refused). */
  static async reserve(): Promise<TcpRelay> {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    return new TcpRelay(port);
  }

  async start(target: { host: string; port: number }): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(target.port, target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (this.server) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }
}

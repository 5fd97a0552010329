import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A loopback port that refuses connections until started, then relays them
 * to a target: a database server "coming back" at the address a proxy was
 * given, without touching the real server other tests share.
 */
export class TcpRelay {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private commitCut?: { deliver: boolean; done: () => void };

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
      client.on('data', (chunk: Buffer) => {
        const cut = this.commitCut;
        // A chunk carrying a simple-query COMMIT ('Q' message), maybe behind the statement it commits: the server gets
        // it or not, and the connection is lost before its answer.
        if (cut && carriesCommit(chunk)) {
          this.commitCut = undefined;
          if (cut.deliver) upstream.write(chunk);
          client.pause();
          upstream.pause();
          setTimeout(() => {
            client.destroy();
            upstream.destroy();
            cut.done();
          }, 200);
          return;
        }
        upstream.write(chunk);
      });
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  /**
   * The connection of the next COMMIT through the relay breaks before its answer reaches the client, after the
   * server got it (`deliver`: it commits) or before (it rolls back). Either way the client cannot tell which.
   */
  cutAtNextCommit(deliver: boolean): Promise<void> {
    return new Promise((resolve) => (this.commitCut = { deliver, done: resolve }));
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (this.server) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }
}

/** Whether the client's bytes hold a whole simple-query COMMIT message among the protocol messages they start with. */
function carriesCommit(chunk: Buffer): boolean {
  for (let at = 0; at + 5 <= chunk.length; ) {
    const length = chunk.readInt32BE(at + 1);
    if (length < 4 || at + 1 + length > chunk.length) return false;
    if (
      chunk[at] === 0x51 &&
      chunk
        .subarray(at + 5, at + 1 + length)
        .toString()
        .startsWith('COMMIT')
    )
      return true;
    at += 1 + length;
  }
  return false;
}

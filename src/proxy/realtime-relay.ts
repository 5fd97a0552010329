import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import { errorText } from '../common/error-text.js';
import { ApiError } from '../http/errors.js';
import type { CommitGate, QueryRecord, Store } from '../store/types.js';
import type { CallerAccess } from './caller-access.js';
import { chargeOrWarn, type ChargeBudgets } from './charge-budgets.js';
import type { BillingHeaders } from './header-policy.js';
import { normaliseUsage } from './usage.js';
import type { Upstream } from './upstream.js';

export interface RealtimeDeps {
  upstream: Upstream;
  store: Store;
  log: Logger;
  /** Who a session is for: its key's user, or x-user (auth.callers), checked at the upgrade. */
  callers: Pick<CallerAccess, 'identify' | 'checkModel'>;
  /** Adds each response's recorded cost to the session's budgets (proxy/spend-gate.ts). */
  chargeBudgets?: ChargeBudgets;
  forwardToken?: string;
  commitGate?: CommitGate;
  billing?: BillingHeaders;
}

const REALTIME_PATH = '/v1/realtime';
/** A side whose peer has this much unsent is paused until the peer catches up: memory stays flat with slow peers. */
const HIGH_WATER_BYTES = 1024 * 1024;
const RESPONSE_DONE = Buffer.from('"response.done"');
const SESSION_EVENT = Buffer.from('"session.');
/** Headers of the caller's upgrade that go upstream; everything else (x-user, cookies, its own key) stays here. */
const FORWARDED_HEADERS = ['openai-beta', 'user-agent'];
const BILLING_HEADERS = ['openai-organization', 'openai-project'];

/**
 * Forwards `GET /v1/realtime` WebSocket upgrades: the caller is named at the
 * upgrade as on every other call (a key of the proxy or x-user, auth.callers), the organisation's key is put on the upstream
 * connection, and frames go both ways unchanged. Each `response.done` event
 * from the upstream is recorded as a query of the session's user (its usage:
 * text, audio, image and cached input, text and audio output) before the
 * event is passed on, so a caller never sees a response end that is not
 * recorded. A session cut off keeps what its finished responses reported.
 */
export function createRealtimeRelay(deps: RealtimeDeps) {
  const server = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const upstreams = new Set<WebSocket>();

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // The socket's own errors (a caller gone while its key is looked up) are answered by closing it.
    socket.on('error', () => socket.destroy());
    void admitUpgrade(req, socket, head);
  }

  async function admitUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://proxy');
    let user: string;
    let keyId: string | null;
    try {
      if (url.pathname !== REALTIME_PATH) throw new ApiError(404, 'not_found', `only ${REALTIME_PATH} takes WebSocket upgrades`);
      const caller = await deps.callers.identify(req.headers);
      deps.callers.checkModel(caller, url.searchParams.get('model'), false);
      user = caller.user;
      keyId = caller.key?.id ?? null;
      if (deps.commitGate && !deps.commitGate.canCommit()) {
        throw new ApiError(503, 'cannot_record', 'the proxy cannot record calls right now; nothing was forwarded');
      }
    } catch (err) {
      refuse(socket, err instanceof ApiError ? err : new ApiError(400, 'bad_upgrade', errorText(err)));
      return;
    }
    // The caller hung up while its key was looked up.
    if (socket.destroyed) return;
    const headers: Record<string, string> = {};
    // The organisation and project billed are the proxy's to set, as on every other call (header-policy.ts).
    for (const name of deps.billing?.callersChoose ? [...FORWARDED_HEADERS, ...BILLING_HEADERS] : FORWARDED_HEADERS) {
      const v = req.headers[name];
      if (typeof v === 'string') headers[name] = v;
    }
    if (deps.billing?.organization && headers['openai-organization'] === undefined) headers['openai-organization'] = deps.billing.organization;
    if (deps.billing?.project && headers['openai-project'] === undefined) headers['openai-project'] = deps.billing.project;
    const auth = deps.forwardToken ? `Bearer ${deps.forwardToken}` : req.headers.authorization;
    if (auth) headers.authorization = auth;
    const target = `${deps.upstream.origin.replace(/^http/, 'ws')}${deps.upstream.basePath}/realtime${url.search}`;
    const upstream = new WebSocket(target, { headers, perMessageDeflate: false, handshakeTimeout: deps.upstream.connectTimeoutMs });
    upstreams.add(upstream);
    upstream.once('close', () => upstreams.delete(upstream));
    upstream.on('unexpected-response', (_r, answer) => {
      refuse(
        socket,
        new ApiError(answer.statusCode === 401 ? 401 : 502, 'upstream_refused', `the upstream refused the Realtime session (${answer.statusCode})`),
      );
      answer.resume();
      upstream.terminate();
    });
    let opened = false;
    upstream.on('error', (err) => {
      // Before the upgrade completes, the caller still waits for an HTTP answer.
      if (!opened) {
        if (socket.writable) refuse(socket, new ApiError(502, 'upstream_unreachable', `the upstream could not be reached (${errorText(err)})`));
        return;
      }
      deps.log.warn({ err: errorText(err), user }, 'Realtime upstream error');
    });
    upstream.once('open', () => {
      opened = true;
      // Its first events (session.created) must wait until the relay listens: unheard, they would be lost.
      upstream.pause();
      server.handleUpgrade(req, socket, head, (client) => relay(deps, client, upstream, { user, keyId, model: url.searchParams.get('model') ?? '' }));
    });
    // The caller hung up before the upstream answered.
    socket.once('close', () => {
      if (upstream.readyState === WebSocket.CONNECTING) upstream.terminate();
    });
  }

  /** Shutdown: every session is cut; what their finished responses reported is already recorded. */
  function close(): void {
    for (const client of server.clients) client.terminate();
    for (const upstream of upstreams) upstream.terminate();
  }

  return { handleUpgrade, close };
}

/** Whom a session's responses are recorded for, and its model (named by the URL or by the session's events). */
interface Session {
  user: string;
  keyId: string | null;
  model: string;
}

function relay(deps: RealtimeDeps, client: WebSocket, upstream: WebSocket, session: Session): void {
  let recording = Promise.resolve();
  const pipe = (from: WebSocket, to: WebSocket, onMessage?: (data: Buffer) => Promise<void>) => {
    from.on('message', (data: RawData, isBinary: boolean) => {
      const frame = data as Buffer;
      const send = () => {
        if (to.readyState !== WebSocket.OPEN) return;
        to.send(frame, { binary: isBinary }, () => {
          if (to.bufferedAmount < HIGH_WATER_BYTES && from.isPaused) from.resume();
        });
        if (to.bufferedAmount >= HIGH_WATER_BYTES) from.pause();
      };
      if (!onMessage || isBinary || frame.indexOf(RESPONSE_DONE) === -1) {
        // Keep order with a response.done still being recorded.
        recording = recording.then(send);
        return;
      }
      from.pause();
      recording = recording
        .then(() => onMessage(frame))
        .then(send, (err) => {
          deps.log.error({ err: errorText(err), user: session.user }, 'could not record a Realtime response; closing the session');
          client.terminate();
          upstream.terminate();
        })
        .finally(() => from.resume());
    });
    from.on('close', (code, reason) => {
      void recording.then(() => {
        if (to.readyState === WebSocket.OPEN) to.close(code === 1005 || code === 1006 ? 1000 : code, reason);
      });
    });
    from.on('error', () => to.terminate());
  };
  pipe(client, upstream);
  pipe(upstream, client, (frame) => recordResponse(deps, session, frame));
  // The session names its model when the URL did not (a client that sets it with session.update).
  upstream.on('message', (data: RawData, isBinary: boolean) => {
    const frame = data as Buffer;
    if (isBinary || frame.indexOf(SESSION_EVENT) === -1) return;
    const model = sessionModel(frame);
    if (model) session.model = model;
  });
  upstream.resume();
}

/** A `response.done` event as a query; session.created/updated name the model when the URL did not. */
async function recordResponse(deps: RealtimeDeps, session: Session, frame: Buffer): Promise<void> {
  let event: { type?: unknown; response?: { usage?: unknown } };
  try {
    event = JSON.parse(frame.toString('utf8'));
  } catch {
    return;
  }
  if (event.type !== 'response.done') return;
  const usage = normaliseUsage(event.response?.usage);
  if (!usage) return;
  const record: QueryRecord = {
    user: session.user,
    keyId: session.keyId,
    timestamp: Date.now(),
    durationMs: 0,
    endpoint: REALTIME_PATH,
    requestedModel: session.model || null,
    model: session.model,
    status: 200,
    // A response that ended cancelled or incomplete is still billed for what it used: it is an answer, not a failure.
    outcome: 'ok',
    ...usage,
    streamed: true,
    estimated: false,
  };
  const { cost, journaled } = await deps.store.recordQuery(record);
  if (!journaled) await chargeOrWarn(deps, session, record.timestamp, cost);
}

function sessionModel(frame: Buffer): string | undefined {
  try {
    const event = JSON.parse(frame.toString('utf8')) as { type?: unknown; session?: { model?: unknown } };
    const isSession = event.type === 'session.created' || event.type === 'session.updated';
    return isSession && typeof event.session?.model === 'string' ? event.session.model : undefined;
  } catch {
    return undefined;
  }
}

function refuse(socket: Duplex, err: ApiError): void {
  const body = JSON.stringify({ error: { message: err.message, type: 'invalid_request_error', code: err.code } });
  socket.end(
    `HTTP/1.1 ${err.status} ${err.status === 404 ? 'Not Found' : 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

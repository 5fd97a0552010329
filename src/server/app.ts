import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { CatalogOrigin } from '../accounting/price-catalog/price-table.js';
import type { Config } from '../config/load-config.js';
import { registerAdminRoutes } from '../admin/routes.js';
import type { WholeProxy } from '../admin/whole-proxy.js';
import { CallerAccess } from '../proxy/caller-access.js';
import { PrometheusMetrics } from '../proxy/call-metrics.js';
import { CaptureBudget } from '../proxy/capture-budget.js';
import { createForwardHandler } from '../proxy/forward-call.js';
import { InflightCalls } from '../proxy/inflight-calls.js';
import { SpendGate } from '../proxy/spend-gate.js';
import type { TokenCounter } from '../proxy/token-counter.js';
import type { Upstream } from '../proxy/upstream.js';
import type { AccessStore } from '../store/access-types.js';
import type { Durability } from '../store/types.js';
import type { Store } from '../store/types.js';
import { clientErrorHandler, createErrorHandler, createRawErrorWriter, frameworkErrorHandler, notFoundHandler, refuseConnect } from './error-handler.js';
import { V1Entry } from './v1-entry.js';

// What all calls in flight together keep of their answers for counting them (each keeps at most 512 KB).
const CAPTURE_BUDGET_BYTES = 64 * 1024 ** 2;

export interface AppDeps {
  config: Config;
  store: Store;
  upstream: Upstream;
  log: Logger;
  inflight?: InflightCalls;
  /** Which catalog prices came from the bundled catalog and which from prices.file, for GET /models. */
  catalogOrigins?: ReadonlyMap<string, CatalogOrigin>;
  /** Whether calls can be committed now (checked before forwarding), and what /health reports. */
  durability?: Durability;
  /** With several workers, /health and /metrics answer for all of them (asked through the primary). */
  wholeProxy?: WholeProxy;
  /** Keys, budgets and rate limits, in the same database as the ledger. */
  access: AccessStore;
  /** Counts tokens, off the event loop, for calls the upstream gave no usage for. */
  counter: TokenCounter;
}

export interface App {
  fastify: FastifyInstance;
  inflight: InflightCalls;
  /** This process's own metrics, when metrics.enabled (a worker reports them to its primary). */
  metrics?: PrometheusMetrics;
  /** Who a call is for (auth.callers); the Realtime upgrade asks it too. */
  callers: CallerAccess;
  /** Budgets and rate limits; costs recorded outside a call (Batch API, Realtime) are charged through it. */
  spendGate: SpendGate;
}

export async function buildApp({
  config,
  store,
  upstream,
  log,
  inflight = new InflightCalls(),
  durability,
  catalogOrigins = new Map(),
  wholeProxy,
  access,
  counter,
}: AppDeps): Promise<App> {
  // Set once the /v1 handler exists; no request arrives before the server listens.
  let v1Entry: V1Entry | undefined;
  const fastify = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    // One log line per proxied call is written by the proxy itself; per-request logging cost ~30% CPU.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.server.bodyLimitBytes,
    // Long streams must not be cut by Node's default request timeout.
    requestTimeout: 0,
    // Shutdown waits for calls in flight itself (server/start-proxy.ts), then breaks them off.
    forceCloseConnections: false,
    return503OnClosing: true,
    // Model names are checked for length (256) by the route itself, with a message.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1024 },
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
    // The server is ours so that /v1 calls can skip Fastify (server/v1-entry.ts); its settings are those Fastify gives its own.
    serverFactory: (fastifyHandler, options) => {
      const server = createServer((request: IncomingMessage, response: ServerResponse) => {
        if (v1Entry?.takes(request)) v1Entry.serve(request, response);
        else fastifyHandler(request, response);
      });
      server.keepAliveTimeout = options.keepAliveTimeout as number;
      server.requestTimeout = options.requestTimeout as number;
      server.setTimeout(options.connectionTimeout as number);
      return server;
    },
  });
  fastify.setErrorHandler(createErrorHandler(log));
  fastify.setNotFoundHandler(notFoundHandler);

  const metrics = config.metrics.enabled
    ? new PrometheusMetrics({
        userLabel: config.metrics.userLabel,
        inflightCalls: () => inflight.size,
        journalBacklog: () => durability?.health().journal.pending ?? 0,
      })
    : undefined;
  const callers = new CallerAccess(config.auth.callers, access);
  const spendGate = new SpendGate(access, {
    counter,
    warnUnchecked: (message) => log.warn(message),
    timeZone: config.budgets.timeZone,
    defaultOutputTokens: config.budgets.defaultOutputTokens,
  });
  await spendGate.loadPolicies();
  const forwardCall = createForwardHandler({
    upstream,
    store,
    log,
    inflight,
    forwardToken: config.forward.token,
    commitGate: durability,
    counter,
    captureBudget: new CaptureBudget(CAPTURE_BUDGET_BYTES),
    billing: { organization: config.forward.organization, project: config.forward.project, callersChoose: config.forward.callerOrganization },
    askForUsage: !config.forward.streamsUsageUnasked,
    metrics,
    // Jobs are polled with the organisation's key; without one the proxy cannot follow them.
    batchFirstPollAfterMs: config.forward.token ? config.batches.pollIntervalMs : undefined,
    callers,
    spendGate,
  });
  // CONNECT never reaches a route: Node hands it to this event, and would otherwise drop the connection without a word.
  fastify.server.on('connect', refuseConnect);
  const entry = new V1Entry({ forwardCall, writeError: createRawErrorWriter(log), bodyLimitBytes: config.server.bodyLimitBytes, log });
  v1Entry = entry;
  fastify.addHook('preClose', (done) => {
    entry.close();
    done();
  });
  await fastify.register(async (v1) => {
    // /v1 targets the entry leaves to the router (percent-escapes, absolute form...) come here, and go on to the
    // same handler, which reads the body itself: the parser leaves the request stream untouched.
    v1.removeAllContentTypeParsers();
    v1.addContentTypeParser('*', (_req, _payload, done) => done(null));
    v1.all('/v1/*', (request, reply) => {
      reply.hijack();
      entry.serve(request.raw, reply.raw);
    });
  });
  await registerAdminRoutes(fastify, {
    store,
    durability,
    catalogOrigins,
    metrics,
    wholeProxy,
    warn: (msg) => log.warn(msg),
    adminToken: config.admin.token,
    access: { access, timeZone: config.budgets.timeZone, policiesChanged: () => spendGate.forgetPolicies() },
  });
  return { fastify, inflight, metrics, callers, spendGate };
}

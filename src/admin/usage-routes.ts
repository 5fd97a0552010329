import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { badRequest, notFound } from '../http/errors.js';
import { isoUtc } from '../http/timestamps.js';
import { TooManyGroupsError } from '../store/errors.js';
import type { QueryFilter, QueryRow, Store, UsageGroup, UsageGrouping, UsageSummary } from '../store/types.js';
import { csvChunks, csvRow, type CsvValue } from './csv.js';
import { parseFilter } from './query-params.js';

type RawQuery = Record<string, string | string[] | undefined>;
type Request = FastifyRequest<{ Querystring: RawQuery }>;

/**
 * GET /usage (grouped with groupBy) and GET /queries, as JSON, or as CSV from
 * /usage.csv and /queries.csv or with `Accept: text/csv`.
 */
export function registerUsageRoutes(app: FastifyInstance, { store }: { store: Store }): void {
  const usage = async (request: Request, reply: FastifyReply) => {
    const { filter, grouping } = parseFilter(request.query, 'grouping');
    await requireKnownUser(store, filter);
    const csv = wantsCsv(request);
    if (!grouping) {
      const view = usageView(await store.usage(filter));
      return csv ? sendCsv(reply, 'usage.csv', csvRow(Object.keys(view)) + csvRow(Object.values(view))) : view;
    }
    const groups = await readGroups(store, filter, grouping);
    const rows = groups.map((g) => ({ ...g.keys, ...usageView(g.usage) }));
    if (!csv) return { groupBy: grouping.fields, tz: grouping.timeZone, groups: rows };
    const header = [...grouping.fields, ...Object.keys(usageView(EMPTY_USAGE))];
    return sendCsv(reply, 'usage.csv', csvRow(header) + rows.map((r) => csvRow(header.map((h) => (r as Record<string, CsvValue>)[h]))).join(''));
  };
  const queries = async (request: Request, reply: FastifyReply) => {
    const { filter, page } = parseFilter(request.query, 'paging');
    await requireKnownUser(store, filter);
    const batches = store.queries(filter, page);
    if (!wantsCsv(request)) return streamJsonArray(reply, batches);
    return sendCsv(reply, 'queries.csv', Readable.from(csvChunks(QUERY_FIELDS, batches, (q) => Object.values(queryView(q)))));
  };
  app.get<{ Querystring: RawQuery }>('/usage', usage);
  app.get<{ Querystring: RawQuery }>('/usage.csv', usage);
  app.get<{ Querystring: RawQuery }>('/queries', queries);
  app.get<{ Querystring: RawQuery }>('/queries.csv', queries);
}

/** A .csv path, or an Accept header that asks for CSV and not JSON (clients that take either get JSON, as before). */
const wantsCsv = (request: Request) => {
  const accept = request.headers.accept ?? '';
  return request.url.split('?')[0].endsWith('.csv') || (/\btext\/csv\b/.test(accept) && !/\bapplication\/json\b/.test(accept));
};

function sendCsv(reply: FastifyReply, filename: string, body: string | Readable) {
  reply.header('content-type', 'text/csv; charset=utf-8; header=present');
  reply.header('content-disposition', `attachment; filename="${filename}"`);
  return reply.send(body);
}

async function readGroups(store: Store, filter: QueryFilter, grouping: UsageGrouping): Promise<UsageGroup[]> {
  try {
    return await store.usageGroups(filter, grouping);
  } catch (err) {
    if (err instanceof TooManyGroupsError) {
      throw badRequest(
        'too_many_groups',
        `groupBy=${grouping.fields.join(',')} gives more than ${err.maxGroups} groups here; narrow the range with after/before or group by less`,
      );
    }
    throw err;
  }
}

async function requireKnownUser(store: Store, filter: QueryFilter): Promise<void> {
  if (filter.user !== undefined && !(await store.userExists(filter.user))) {
    throw notFound('unknown_user', `no queries were ever made by user '${filter.user}'`);
  }
}

const EMPTY_USAGE: UsageSummary = {
  numQueries: 0,
  queryTokens: 0,
  answerTokens: 0,
  cachedQueryTokens: 0,
  reasoningTokens: 0,
  cost: 0,
  unpricedQueries: 0,
  estimatedQueries: 0,
  tierFallbackQueries: 0,
};

/** The original's fields first, then ours. */
function usageView(u: UsageSummary) {
  return {
    numQueries: u.numQueries,
    queryTokens: u.queryTokens,
    answerTokens: u.answerTokens,
    cost: u.cost,
    // The original answered "NaN" here for no queries.
    averageCostPerQuery: u.numQueries === 0 ? 0 : u.cost / u.numQueries,
    cachedQueryTokens: u.cachedQueryTokens,
    reasoningTokens: u.reasoningTokens,
    unpricedQueries: u.unpricedQueries,
    estimatedQueries: u.estimatedQueries,
    tierFallbackQueries: u.tierFallbackQueries,
  };
}

/** The original's fields first, then ours. */
function queryView(q: QueryRow) {
  return {
    user: q.user,
    model: q.model,
    timestamp: isoUtc(q.timestamp),
    queryTokens: q.promptTokens,
    answerTokens: q.completionTokens,
    cost: q.cost,
    endpoint: q.endpoint,
    requestedModel: q.requestedModel,
    status: q.status,
    outcome: q.outcome,
    durationMs: q.durationMs,
    cachedQueryTokens: q.cachedTokens,
    reasoningTokens: q.reasoningTokens,
    streamed: q.streamed,
    estimated: q.estimated,
    priced: q.priced,
    serviceTier: q.serviceTier,
    tierFallback: q.tierFallback,
    pricedAtBaseModel: q.pricedAtBaseModel,
    batchId: q.batchId,
    cacheWriteTokens: q.cacheWriteTokens,
    audioQueryTokens: q.audioPromptTokens,
    audioAnswerTokens: q.audioCompletionTokens,
    imageQueryTokens: q.imagePromptTokens,
    imageAnswerTokens: q.imageCompletionTokens,
    acceptedPredictionTokens: q.acceptedPredictionTokens,
    rejectedPredictionTokens: q.rejectedPredictionTokens,
    audioSeconds: q.audioSeconds,
    inputCharacters: q.inputCharacters,
    webSearchCalls: q.webSearchCalls,
    fileSearchCalls: q.fileSearchCalls,
    codeInterpreterContainers: q.codeInterpreterContainers,
    /** The id of the proxy key the call was made with; null for an x-user call. */
    key: q.keyId ?? null,
  };
}

const QUERY_FIELDS = Object.keys(
  queryView({
    id: 0,
    user: '',
    timestamp: 0,
    durationMs: 0,
    endpoint: '',
    requestedModel: null,
    model: '',
    status: 0,
    outcome: 'ok',
    promptTokens: 0,
    completionTokens: 0,
    cachedTokens: 0,
    reasoningTokens: 0,
    streamed: false,
    estimated: false,
    cost: 0,
    priced: false,
    serviceTier: null,
    tierFallback: false,
    pricedAtBaseModel: null,
    batchId: null,
    cacheWriteTokens: 0,
    audioPromptTokens: 0,
    audioCompletionTokens: 0,
    imagePromptTokens: 0,
    imageCompletionTokens: 0,
    acceptedPredictionTokens: 0,
    rejectedPredictionTokens: 0,
    audioSeconds: 0,
    inputCharacters: 0,
    webSearchCalls: 0,
    fileSearchCalls: 0,
    codeInterpreterContainers: 0,
  }),
);

/** Writes batches as they come so memory stays flat on millions of rows. */
function streamJsonArray(reply: FastifyReply, batches: AsyncIterable<QueryRow[]>) {
  async function* json() {
    let first = true;
    yield '[';
    for await (const batch of batches) {
      let text = '';
      for (const row of batch) {
        text += (first ? '' : ',') + JSON.stringify(queryView(row));
        first = false;
      }
      yield text;
    }
    yield ']';
  }
  reply.header('content-type', 'application/json; charset=utf-8');
  return reply.send(Readable.from(json()));
}

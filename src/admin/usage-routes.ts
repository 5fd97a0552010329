import type { FastifyInstance, FastifyReply } from 'fastify';
import { Readable } from 'node:stream';
import { notFound } from '../http/errors.js';
import type { QueryFilter, QueryRow, Store } from '../store/types.js';
import { parseFilter } from './query-params.js';
import { isoUtc } from '../http/timestamps.js';

type RawQuery = Record<string, string | string[] | undefined>;

export function registerUsageRoutes(app: FastifyInstance, { store }: { store: Store }): void {
  app.get<{ Querystring: RawQuery }>('/usage', async (request) => {
    const { filter } = parseFilter(request.query);
    await requireKnownUser(store, filter);
    const u = await store.usage(filter);
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
      tierFallbackQueries: u.tierFallbackQueries,
    };
  });

  app.get<{ Querystring: RawQuery }>('/queries', async (request, reply) => {
    const { filter, page } = parseFilter(request.query, true);
    await requireKnownUser(store, filter);
    return streamJsonArray(reply, store.queries(filter, page));
  });
}

async function requireKnownUser(store: Store, filter: QueryFilter): Promise<void> {
  if (filter.user !== undefined && !(await store.userExists(filter.user))) {
    throw notFound('unknown_user', `no queries were ever made by user '${filter.user}'`);
  }
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
  };
}

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

import { normaliseUsage, type Usage } from './usage.js';

/** One request of a batch, as its output file reports it. */
export interface BatchOutputLine {
  /** The line's own id (`batch_req_...`), else its custom_id: unique within the batch. */
  requestId: string;
  statusCode: number;
  model?: string;
  usage?: Usage;
}

/** A line longer than this (a huge answer body) is skipped, and counted as skipped, rather than held whole in memory. */
const MAX_LINE_BYTES = 32 * 1024 * 1024;

/**
 * The lines of a batch output file (JSONL, one BatchRequestOutput per line:
 * id, custom_id, response {status_code, request_id, body}, error), read as
 * the file streams in: only one line is held at a time.
 */
export async function* batchOutputLines(chunks: AsyncIterable<Buffer>, onSkipped: (reason: string) => void): AsyncGenerator<BatchOutputLine> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let oversized = false;
  for await (const chunk of chunks) {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a, start); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const part = chunk.subarray(start, nl);
      start = nl + 1;
      if (oversized) {
        oversized = false;
        onSkipped(`a line longer than ${MAX_LINE_BYTES} bytes`);
      } else {
        const line = pending.length === 0 ? part : Buffer.concat([...pending, part]);
        const parsed = parseLine(line, onSkipped);
        if (parsed) yield parsed;
      }
      pending = [];
      pendingBytes = 0;
    }
    if (start < chunk.length && !oversized) {
      pending.push(chunk.subarray(start));
      pendingBytes += chunk.length - start;
      if (pendingBytes > MAX_LINE_BYTES) {
        oversized = true;
        pending = [];
        pendingBytes = 0;
      }
    }
  }
  if (oversized) onSkipped(`a line longer than ${MAX_LINE_BYTES} bytes`);
  else if (pending.length > 0) {
    const parsed = parseLine(Buffer.concat(pending), onSkipped);
    if (parsed) yield parsed;
  }
}

function parseLine(line: Buffer, onSkipped: (reason: string) => void): BatchOutputLine | undefined {
  const text = line.toString('utf8').trim();
  if (text === '') return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    onSkipped('a line that is not JSON');
    return undefined;
  }
  const o = raw as { id?: unknown; custom_id?: unknown; response?: { status_code?: unknown; body?: { model?: unknown; usage?: unknown } } | null };
  const requestId = typeof o?.id === 'string' && o.id !== '' ? o.id : typeof o?.custom_id === 'string' ? `custom:${o.custom_id}` : undefined;
  if (requestId === undefined) {
    onSkipped('a line with neither id nor custom_id');
    return undefined;
  }
  const response = o.response && typeof o.response === 'object' ? o.response : undefined;
  const body = response?.body && typeof response.body === 'object' ? response.body : undefined;
  return {
    requestId,
    statusCode: typeof response?.status_code === 'number' ? response.status_code : 0,
    model: typeof body?.model === 'string' ? body.model : undefined,
    usage: normaliseUsage(body?.usage),
  };
}

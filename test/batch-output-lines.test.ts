import { describe, expect, it } from 'vitest';
import { batchOutputLines } from '../src/proxy/batch-output-lines.js';

const line = (id: string, usage: Record<string, number>, status = 200) =>
  JSON.stringify({
    id,
    custom_id: `request-${id}`,
    response: { status_code: status, request_id: `req_${id}`, body: { id: 'chatcmpl-x', object: 'chat.completion', model: 'gpt-4o-mini-2024-07-18', usage } },
    error: null,
  });

async function* inPieces(text: string, size: number): AsyncGenerator<Buffer> {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function collect(text: string, size: number) {
  const skipped: string[] = [];
  const lines = [];
  for await (const l of batchOutputLines(inPieces(text, size), (r) => skipped.push(r))) lines.push(l);
  return { lines, skipped };
}

describe('batch output lines', () => {
  it('reads every line whole however the file is cut into chunks', async () => {
    const file = `${line('batch_req_1', { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 })}\n${line('batch_req_2', { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 })}\n`;
    for (const size of [1, 7, 64, 100_000]) {
      const { lines, skipped } = await collect(file, size);
      expect(skipped).toEqual([]);
      expect(lines.map((l) => [l.requestId, l.statusCode, l.model, l.usage?.promptTokens, l.usage?.completionTokens])).toEqual([
        ['batch_req_1', 200, 'gpt-4o-mini-2024-07-18', 10, 5],
        ['batch_req_2', 200, 'gpt-4o-mini-2024-07-18', 7, 3],
      ]);
    }
  });

  it('reads a last line without a newline, and skips what is not a line of a batch, saying so', async () => {
    const { lines, skipped } = await collect(`not json\n{"foo":1}\n\n${line('batch_req_3', { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 })}`, 5);
    expect(lines.map((l) => l.requestId)).toEqual(['batch_req_3']);
    expect(skipped).toEqual(['a line that is not JSON', 'a line with neither id nor custom_id']);
  });

  it('keeps a failed request’s line, without usage', async () => {
    const failed = JSON.stringify({ id: 'batch_req_4', custom_id: 'r4', response: null, error: { code: 'server_error', message: 'boom' } });
    const { lines } = await collect(`${failed}\n`, 10);
    expect(lines).toEqual([{ requestId: 'batch_req_4', statusCode: 0, model: undefined, usage: undefined }]);
  });
});

/** Chat completion stream events as OpenAI writes them, for stand-ins that misbehave on purpose. */
export function chunkEvent(content: string, opts: { model?: string; finish?: string | null; usage?: unknown } = {}): string {
  const chunk: Record<string, unknown> = {
    id: 'chatcmpl-fault',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: opts.model ?? 'gpt-4o-2024-08-06',
    choices: [{ index: 0, delta: content ? { content } : {}, finish_reason: opts.finish ?? null }],
  };
  if (opts.usage !== undefined) chunk.usage = opts.usage;
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

export function usageEvent(usage: Record<string, number>, model = 'gpt-4o-2024-08-06'): string {
  return `data: ${JSON.stringify({ id: 'chatcmpl-fault', object: 'chat.completion.chunk', created: 1_700_000_000, model, choices: [], usage })}\n\n`;
}

export const DONE_EVENT = 'data: [DONE]\n\n';

export function completionJson(content: string, usage?: Record<string, number>, model = 'gpt-4o-2024-08-06'): string {
  return JSON.stringify({
    id: 'chatcmpl-fault',
    object: 'chat.completion',
    created: 1_700_000_000,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    ...(usage ? { usage } : {}),
  });
}

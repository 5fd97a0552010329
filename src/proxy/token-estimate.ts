import type { Encoding, TokenCounter } from './token-counter.js';

/**
 * Token counts for calls the upstream gave no usage for (a stream cut off, a
 * server without usage support). Never used when usage is present. The
 * counting itself runs in the counter's worker thread, off the event loop.
 */
function encodingForModel(model: string): Encoding {
  const m = model.replace(/^ft:/, '').toLowerCase();
  if (/^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o\d|chatgpt-4o|codex|computer-use|gpt-oss|gpt-realtime|gpt-audio|gpt-image)/.test(m)) return 'o200k_base';
  if (/^(gpt-4|gpt-3\.5|text-embedding|davinci-002|babbage-002)/.test(m)) return 'cl100k_base';
  return 'o200k_base';
}

export async function countTextTokens(counter: TokenCounter, model: string, texts: string[]): Promise<number> {
  return (await counter.count(encodingForModel(model), texts.filter(Boolean))).tokens;
}

// OpenAI's documented framing: each chat message costs 3 tokens around its content, and the reply is primed with 3.
const TOKENS_PER_MESSAGE = 3;
const REPLY_PRIMING = 3;

/** Prompt tokens of a request body, for chat, responses, completions and embeddings alike. */
export async function estimatePromptTokens(counter: TokenCounter, model: string, body: unknown): Promise<number> {
  return (await countPromptTokens(counter, model, body)).tokens;
}

/** As estimatePromptTokens, saying whether the tokenizer counted all of it (`exact`) or some was taken as bytes / 4. */
export async function countPromptTokens(counter: TokenCounter, model: string, body: unknown): Promise<{ tokens: number; exact: boolean }> {
  if (!body || typeof body !== 'object') return { tokens: 0, exact: true };
  const b = body as Record<string, unknown>;
  const texts: string[] = [];
  let framing = 0;
  if (Array.isArray(b.messages)) {
    framing += REPLY_PRIMING;
    for (const message of b.messages) {
      framing += TOKENS_PER_MESSAGE;
      collectText(message, texts);
    }
  }
  for (const key of ['input', 'prompt', 'instructions', 'tools', 'functions']) {
    if (b[key] !== undefined) collectText(b[key], texts);
  }
  const counted = await counter.count(encodingForModel(model), texts.filter(Boolean));
  return { tokens: framing + counted.tokens, exact: counted.exact };
}

/** Every string inside a value (message contents, tool schemas, input items). */
function collectText(value: unknown, out: string[]): void {
  // A loop, not recursion: a request body nested thousands of levels deep must not overflow the stack.
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) for (let i = v.length - 1; i >= 0; i--) stack.push(v[i]);
    else if (v && typeof v === 'object') {
      for (const [k, inner] of Object.entries(v)) {
        // Base64 images and audio are not text tokens; counting them would inflate the estimate wildly.
        if (k === 'image_url' || k === 'input_audio' || k === 'file_data' || k === 'image') continue;
        stack.push(inner);
      }
    }
  }
}

/**
 * Token counts for calls the upstream gave no usage for (a stream cut off, a
 * server without usage support). Never used when usage is present: the
 * tokenizers load lazily, on the first estimate.
 */
type Counter = (text: string) => number;

const counters = new Map<string, Promise<Counter>>();
// Special-token markers such as <|endoftext|> inside user text are plain text here, never an error.
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

function encodingForModel(model: string): 'o200k_base' | 'cl100k_base' {
  const m = model.replace(/^ft:/, '').toLowerCase();
  if (/^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o\d|chatgpt-4o|codex|computer-use|gpt-oss|gpt-realtime|gpt-audio|gpt-image)/.test(m)) return 'o200k_base';
  if (/^(gpt-4|gpt-3\.5|text-embedding|davinci-002|babbage-002)/.test(m)) return 'cl100k_base';
  return 'o200k_base';
}

async function counterFor(model: string): Promise<Counter> {
  const encoding = encodingForModel(model);
  let counter = counters.get(encoding);
  if (!counter) {
    counter = (encoding === 'o200k_base' ? import('gpt-tokenizer/encoding/o200k_base') : import('gpt-tokenizer/encoding/cl100k_base')).then(
      (mod) => (text: string) => mod.countTokens(text, PLAIN_TEXT),
    );
    counters.set(encoding, counter);
  }
  return counter;
}

export async function countTextTokens(model: string, texts: string[]): Promise<number> {
  const count = await counterFor(model);
  let total = 0;
  for (const t of texts) if (t) total += count(t);
  return total;
}

// OpenAI's documented framing: each chat message costs 3 tokens around its content, and the reply is primed with 3.
const TOKENS_PER_MESSAGE = 3;
const REPLY_PRIMING = 3;

/** Prompt tokens of a request body, for chat, responses, completions and embeddings alike. */
export async function estimatePromptTokens(model: string, body: unknown): Promise<number> {
  if (!body || typeof body !== 'object') return 0;
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
  return framing + (await countTextTokens(model, texts));
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

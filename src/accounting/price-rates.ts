/**
 * The rates a price may carry besides its three text rates, each with its
 * field in a price body (POST /model/{name}, prices.file), its column in the
 * price tables, and what a query is charged when a price leaves it out.
 * One table, so the body parser, the model view, the stores and the cost
 * expression can never disagree on a name.
 */
export const OPTIONAL_RATES = [
  { field: 'per1KCacheWriteTokens', column: 'per1k_cache_write', unit: 'dollars per 1,000 prompt tokens written to the cache', absent: 'the prompt rate' },
  { field: 'per1KAudioQueryTokens', column: 'per1k_audio_query', unit: 'dollars per 1,000 audio prompt tokens', absent: 'the prompt rate' },
  { field: 'per1KAudioAnswerTokens', column: 'per1k_audio_answer', unit: 'dollars per 1,000 audio answer tokens', absent: 'the answer rate' },
  { field: 'per1KImageQueryTokens', column: 'per1k_image_query', unit: 'dollars per 1,000 image prompt tokens', absent: 'the prompt rate' },
  { field: 'per1KImageAnswerTokens', column: 'per1k_image_answer', unit: 'dollars per 1,000 image answer tokens', absent: 'the answer rate' },
  { field: 'perMinuteAudio', column: 'per_minute_audio', unit: 'dollars per minute of audio a duration-billed transcription reports', absent: 'nothing' },
  { field: 'per1KCharacters', column: 'per1k_characters', unit: 'dollars per 1,000 characters of speech input', absent: 'nothing' },
  { field: 'per1KWebSearchCalls', column: 'per1k_web_search_calls', unit: 'dollars per 1,000 web search calls', absent: 'nothing' },
  { field: 'per1KFileSearchCalls', column: 'per1k_file_search_calls', unit: 'dollars per 1,000 file search calls', absent: 'nothing' },
  { field: 'per1KCodeInterpreterContainers', column: 'per1k_code_interpreter', unit: 'dollars per 1,000 code interpreter containers', absent: 'nothing' },
  {
    field: 'longContextAbovePromptTokens',
    column: 'long_context_above',
    unit: 'prompt tokens above which the whole call is priced at the long-context rates',
    absent: 'no long-context rates',
  },
  { field: 'longContextPer1KQueryTokens', column: 'long_per1k_query', unit: 'long-context prompt rate', absent: 'the prompt rate' },
  { field: 'longContextPer1KAnswerTokens', column: 'long_per1k_answer', unit: 'long-context answer rate', absent: 'the answer rate' },
  { field: 'longContextPer1KCachedQueryTokens', column: 'long_per1k_cached_query', unit: 'long-context cached prompt rate', absent: 'the cached prompt rate' },
  { field: 'longContextPer1KCacheWriteTokens', column: 'long_per1k_cache_write', unit: 'long-context cache-write rate', absent: 'the cache-write rate' },
] as const;

export type OptionalRateField = (typeof OPTIONAL_RATES)[number]['field'];
export type OptionalRates = { [F in OptionalRateField]?: number };

/** Tiers OpenAI names in `service_tier`, besides `default`, plus `batch` for Batch API results. */
export const SERVICE_TIERS = ['flex', 'priority', 'scale', 'batch'] as const;
export type ServiceTier = (typeof SERVICE_TIERS)[number];

export const isServiceTier = (v: unknown): v is ServiceTier => typeof v === 'string' && (SERVICE_TIERS as readonly string[]).includes(v);

import type { RecordColumn } from '../sql/insert-query-sql.js';

/**
 * PostgreSQL types of the record columns: the element types of the record
 * function's array parameters (record-batches.ts), declared rather than left
 * to inference, which in the shared pricing SQL would see arithmetic with a
 * DOUBLE PRECISION first.
 */
export const RECORD_COLUMN_TYPES: Record<RecordColumn, string> = {
  ts: 'bigint',
  user_name: 'text',
  endpoint: 'text',
  requested_model: 'text',
  model: 'text',
  base_model: 'text',
  status: 'integer',
  outcome: 'text',
  duration_ms: 'bigint',
  prompt_tokens: 'bigint',
  completion_tokens: 'bigint',
  cached_tokens: 'bigint',
  reasoning_tokens: 'bigint',
  streamed: 'smallint',
  estimated: 'smallint',
  service_tier: 'text',
  batch_id: 'text',
  ft_base_model: 'text',
  cache_write_tokens: 'bigint',
  audio_prompt_tokens: 'bigint',
  audio_completion_tokens: 'bigint',
  image_prompt_tokens: 'bigint',
  image_completion_tokens: 'bigint',
  accepted_prediction_tokens: 'bigint',
  rejected_prediction_tokens: 'bigint',
  audio_seconds: 'float8',
  input_characters: 'bigint',
  web_search_calls: 'bigint',
  file_search_calls: 'bigint',
  code_interpreter_containers: 'bigint',
  key_id: 'text',
};

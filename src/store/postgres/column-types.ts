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
  key_id: 'text',
};

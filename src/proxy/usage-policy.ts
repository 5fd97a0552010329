import type { UsagePolicy } from './call-usage.js';
import { requiresJsonBody } from './request-plan.js';

const READS = new Set(['GET', 'HEAD', 'DELETE']);
export const SPEECH_ENDPOINT = '/v1/audio/speech';

/**
 * Which tokens of a call count. Reads and deletes never count: a retrieved
 * response (`GET /v1/responses/{id}`) or stored chat completion shows the
 * usage of the call that created it, recorded then; counting it again would
 * charge it twice. Generating endpoints are estimated when the upstream
 * reports no usage. Speech answers are audio: unless the upstream reports
 * usage, the request's text is counted. Any other call (images, audio, files,
 * moderations) counts the usage its answer reports, and nothing otherwise.
 */
export function usagePolicyFor(method: string, endpoint: string): UsagePolicy {
  if (READS.has(method)) return 'none';
  if (endpoint === SPEECH_ENDPOINT) return 'request-text';
  return requiresJsonBody(endpoint) ? 'estimate' : 'reported';
}

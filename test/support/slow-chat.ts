import type { Behaviour } from './upstream-stand-in.js';
import { STAND_IN_USAGE } from './upstream-stand-in.js';

/** The stand-in's chat answer, sent after `delayMs`: calls made together are then really in flight together. */
export function slowChat(delayMs: number): Behaviour {
  return {
    kind: 'custom',
    handle: (_req, body, res) => {
      const model = String(JSON.parse(body.toString('utf8')).model ?? 'gpt-4o');
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            id: 'chatcmpl-slow',
            object: 'chat.completion',
            created: 1_700_000_000,
            model,
            choices: [{ index: 0, message: { role: 'assistant', content: 'slow hello' }, finish_reason: 'stop' }],
            usage: STAND_IN_USAGE,
          }),
        );
      }, delayMs);
    },
  };
}

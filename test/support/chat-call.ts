import { expect } from 'vitest';

/** One plain chat call through a proxy, asserted to succeed, its body read to the end. */
export async function chatThrough(proxyUrl: string, user = 'adam'): Promise<void> {
  const res = await fetch(`${proxyUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-user': user },
    body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
  });
  expect(res.status).toBe(200);
  await res.text();
}

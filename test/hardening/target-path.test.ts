import { describe, expect, it } from 'vitest';
import { normaliseTarget } from '../../src/proxy/target-path.js';

describe('one normal form for every spelling of a /v1 path', () => {
  it.each([
    ['/v1/chat/completions', '/v1/chat/completions'],
    ['/v1/chat/%63ompletions', '/v1/chat/completions'],
    ['/v1/chat/completions/', '/v1/chat/completions'],
    ['/v1//chat/completions', '/v1/chat/completions'],
    ['/v1/./chat/completions', '/v1/chat/completions'],
    ['/v1/chat/x/../completions', '/v1/chat/completions'],
    ['/%76%31/chat/completions', '/v1/chat/completions'],
    ['/v1/chat/%2e/completions', '/v1/chat/completions'],
    ['/v1/files/file-abc%3a1', '/v1/files/file-abc%3A1'],
  ])('reads %s as %s', (raw, path) => {
    expect(normaliseTarget(raw).path).toBe(path);
  });

  it('keeps the query string as sent', () => {
    expect(normaliseTarget('/v1//models?after=a%2Fb&limit=2')).toEqual({ path: '/v1/models', query: '?after=a%2Fb&limit=2' });
  });

  it.each([
    ['/v1/../../other/x', /'\.\.' segments/],
    ['/v1/..', /under \/v1\//],
    ['/v1/%2e%2e/admin', /under \/v1\//],
    ['/v1/a%2F..%2F..%2Fother', /under \/v1\//],
    ['/v1/a%5C..%5C..%5Cother', /under \/v1\//],
    ['/v1/a\\..\\..\\other', /under \/v1\//],
    ['/v1/', /under \/v1\//],
    ['/v1/chat%00/completions', /control characters/],
    ['/v1/chat/%zzcompletions', /percent-encoding/],
    ['https://host.example/v1/models', /absolute URL/],
    ['*', /absolute URL/],
  ])('refuses %s with 400 naming the problem', (raw, message) => {
    expect(() => normaliseTarget(raw)).toThrowError(expect.objectContaining({ status: 400, message: expect.stringMatching(message) }));
  });
});

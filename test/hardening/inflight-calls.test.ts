import { describe, expect, it } from 'vitest';
import { InflightCalls } from '../../src/proxy/inflight-calls.js';

describe('calls in flight', () => {
  it("tells each listener of a call's abort once, with its reason, and no listener removed before it", () => {
    const calls = new InflightCalls();
    const call = calls.start();
    const heard: string[] = [];
    const first = () => heard.push(`first: ${(call.signal.reason as Error).message}`);
    const removed = () => heard.push('removed');
    call.signal.addEventListener('abort', first);
    call.signal.addEventListener('abort', removed);
    call.signal.removeEventListener('abort', removed);
    expect(call.signal.aborted).toBe(false);
    call.abort('client_aborted');
    call.abort('shutdown');
    expect(heard).toEqual(['first: client_aborted']);
    expect(call.reason).toBe('client_aborted');
    expect(call.signal.aborted).toBe(true);
  });

  it('aborts every call at shutdown, and is idle once each is done', async () => {
    const calls = new InflightCalls();
    const a = calls.start();
    const b = calls.start();
    expect(calls.size).toBe(2);
    calls.abortAll('shutdown');
    expect([a.reason, b.reason]).toEqual(['shutdown', 'shutdown']);
    const idle = calls.waitUntilIdle(5_000);
    a.done();
    b.done();
    b.done();
    expect(await idle).toBe(true);
    expect(calls.size).toBe(0);
    expect(await calls.waitUntilIdle(0)).toBe(true);
  });

  it('gives up waiting after the grace period while a call is still going', async () => {
    const calls = new InflightCalls();
    calls.start();
    expect(await calls.waitUntilIdle(10)).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { AnswerCapture } from '../../src/proxy/answer-capture.js';
import { CaptureBudget } from '../../src/proxy/capture-budget.js';

const chunk = Buffer.alloc(64 * 1024, 0x61);

describe('what answers keep for estimation is bounded per call and across calls', () => {
  it('keeps at most its limit of an 8 MB answer, and counts all of it', () => {
    const capture = new AnswerCapture(512 * 1024, new CaptureBudget(64 * 2 ** 20));
    for (let i = 0; i < 128; i++) capture.add(chunk);
    expect(capture.capturedBytes).toBe(512 * 1024);
    expect(capture.totalBytes).toBe(8 * 2 ** 20);
    // A count made on the kept part is scaled to the whole answer.
    expect(capture.extrapolate(100)).toBe(1600);
  });

  it('stops keeping once the budget all calls share is spent, and gets it back when calls are done', () => {
    const budget = new CaptureBudget(2 * 2 ** 20);
    const captures = Array.from({ length: 50 }, () => new AnswerCapture(512 * 1024, budget));
    for (let i = 0; i < 128; i++) for (const c of captures) c.add(chunk);
    expect(budget.usedBytes).toBeLessThanOrEqual(2 * 2 ** 20);
    expect(captures.reduce((sum, c) => sum + c.capturedBytes, 0)).toBe(budget.usedBytes);
    expect(captures.every((c) => c.totalBytes === 8 * 2 ** 20)).toBe(true);
    for (const c of captures) c.release();
    expect(budget.usedBytes).toBe(0);
    expect(captures.every((c) => c.chunks.length === 0)).toBe(true);
  });
});

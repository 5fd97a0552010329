import type { AbortSource } from './upstream-request.js';

export type AbortReason = 'client_aborted' | 'shutdown';

export interface InflightCall {
  readonly signal: AbortSource;
  readonly reason: AbortReason | undefined;
  abort(reason: AbortReason): void;
  done(): void;
}

/**
 * What aborting a call tells its upstream request. Not an AbortController: its
 * EventTarget machinery cost every call about 2.5% of the proxy's CPU, for the
 * one or two listeners a call ever has.
 */
class CallSignal implements AbortSource {
  aborted = false;
  reason: Error | undefined;
  private listeners: (() => void)[] | undefined;

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.aborted) return;
    if (this.listeners === undefined) this.listeners = [listener];
    else this.listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const i = this.listeners?.indexOf(listener) ?? -1;
    if (i !== -1) this.listeners?.splice(i, 1);
  }

  fire(reason: Error): void {
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners;
    this.listeners = undefined;
    for (const listener of listeners ?? []) listener();
  }
}

class Call implements InflightCall {
  readonly signal = new CallSignal();
  reason: AbortReason | undefined;

  constructor(private readonly ended: (call: Call) => void) {}

  abort(reason: AbortReason): void {
    if (this.reason) return;
    this.reason = reason;
    this.signal.fire(new Error(reason));
  }

  done(): void {
    this.ended(this);
  }
}

/** Calls being relayed, so shutdown can wait for them and then break off what is left. */
export class InflightCalls {
  private readonly calls = new Set<InflightCall>();
  private idleWaiters: (() => void)[] = [];
  private readonly ended = (call: Call) => {
    this.calls.delete(call);
    if (this.calls.size === 0 && this.idleWaiters.length > 0) for (const w of this.idleWaiters.splice(0)) w();
  };

  get size(): number {
    return this.calls.size;
  }

  start(): InflightCall {
    const call = new Call(this.ended);
    this.calls.add(call);
    return call;
  }

  /** Resolves true when every call has finished, false if the grace period ran out first. */
  waitUntilIdle(timeoutMs: number): Promise<boolean> {
    if (this.calls.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  abortAll(reason: AbortReason): void {
    for (const call of this.calls) call.abort(reason);
  }
}

export type AbortReason = 'client_aborted' | 'shutdown';

export interface InflightCall {
  readonly signal: AbortSignal;
  readonly reason: AbortReason | undefined;
  abort(reason: AbortReason): void;
  done(): void;
}

/** Calls being relayed, so shutdown can wait for them and then break off what is left. */
export class InflightCalls {
  private readonly calls = new Set<InflightCall>();
  private idleWaiters: (() => void)[] = [];

  get size(): number {
    return this.calls.size;
  }

  start(): InflightCall {
    const controller = new AbortController();
    let reason: AbortReason | undefined;
    const call: InflightCall = {
      signal: controller.signal,
      get reason() {
        return reason;
      },
      abort: (r) => {
        if (reason) return;
        reason = r;
        controller.abort(new Error(r));
      },
      done: () => {
        this.calls.delete(call);
        if (this.calls.size === 0) for (const w of this.idleWaiters.splice(0)) w();
      },
    };
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

/* A trailing debounce with flush and cancel: the autosave waits `ms` after the
 * last change, and flushes at once when the page is hidden or closed. */
export interface Scheduler {
  set(f: () => void, ms: number): unknown;
  clear(h: unknown): void;
}

export const timers: Scheduler = {
  set: (f, ms) => setTimeout(f, ms),
  clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface Debounced<A extends unknown[]> {
  (...args: A): void;
  /** run the pending call now (no-op when nothing is pending) */
  flush(): void;
  cancel(): void;
  pending(): boolean;
}

export function debounce<A extends unknown[]>(f: (...args: A) => void, ms: number, sched: Scheduler = timers): Debounced<A> {
  let handle: unknown = null;
  let last: A | null = null;
  const run = () => {
    handle = null;
    const a = last;
    last = null;
    if (a) f(...a);
  };
  const d = ((...args: A) => {
    last = args;
    if (handle !== null) sched.clear(handle);
    handle = sched.set(run, ms);
  }) as Debounced<A>;
  d.flush = () => {
    if (handle !== null) {
      sched.clear(handle);
      run();
    }
  };
  d.cancel = () => {
    if (handle !== null) sched.clear(handle);
    handle = null;
    last = null;
  };
  d.pending = () => handle !== null;
  return d;
}

/* Helpers for the unit tests. */
import type { Scheduler } from './debounce';

/** a clock the test moves by hand */
export function fakeScheduler() {
  let now = 0;
  let seq = 0;
  const jobs = new Map<number, { at: number; f: () => void }>();
  const sched: Scheduler = {
    set: (f, ms) => {
      const id = ++seq;
      jobs.set(id, { at: now + ms, f });
      return id;
    },
    clear: (h) => void jobs.delete(h as number),
  };
  const advance = (ms: number) => {
    const until = now + ms;
    for (;;) {
      const due = [...jobs.entries()].filter(([, j]) => j.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      jobs.delete(due[0]);
      now = due[1].at;
      due[1].f();
    }
    now = until;
  };
  return { sched, advance, pending: () => jobs.size };
}


/* Autosave and restore of the UI state: each change schedules a PUT of the
 * session row `delayMs` after the last one (2 s); an identical row is not sent
 * again; the pending save is flushed when the page is hidden or closed. */
import type { UiSession, UiSessionBody } from '../api/types';
import { debounce, timers, type Scheduler } from '../lib/debounce';
import { fromSession, toSessionBody, type Store, type UiState } from './ui';

export const AUTOSAVE_DELAY_MS = 2000;

export interface AutosaveOptions {
  store: Store<UiState>;
  save: (body: UiSessionBody, opts: { keepalive: boolean }) => Promise<unknown>;
  delayMs?: number;
  sched?: Scheduler;
  onStatus?: (s: AutosaveStatus) => void;
}

export type AutosaveStatus = 'idle' | 'pending' | 'saving' | 'saved' | 'error';

export interface Autosave {
  /** stop listening (the pending save is dropped) */
  stop(): void;
  /** save now what is pending; keepalive lets the request outlive the page */
  flush(keepalive?: boolean): void;
  /** take `row` as what the server has, without saving it back */
  markSaved(body: UiSessionBody): void;
  status(): AutosaveStatus;
}

export function startAutosave(o: AutosaveOptions): Autosave {
  const delay = o.delayMs ?? AUTOSAVE_DELAY_MS;
  let lastSent = JSON.stringify(toSessionBody(o.store.get()));
  let status: AutosaveStatus = 'idle';
  let keepalive = false;
  const setStatus = (s: AutosaveStatus) => {
    status = s;
    o.onStatus?.(s);
  };
  const send = (state: UiState) => {
    const body = toSessionBody(state);
    const json = JSON.stringify(body);
    if (json === lastSent) {
      setStatus('saved');
      return;
    }
    lastSent = json;
    setStatus('saving');
    o.save(body, { keepalive }).then(
      () => setStatus('saved'),
      () => {
        lastSent = ''; // try again on the next change
        setStatus('error');
      },
    );
  };
  const d = debounce(send, delay, o.sched ?? timers);
  const unsubscribe = o.store.subscribe(() => {
    d(o.store.get());
    setStatus('pending');
  });
  return {
    stop() {
      unsubscribe();
      d.cancel();
    },
    flush(k = false) {
      keepalive = k;
      d.flush();
      keepalive = false;
    },
    markSaved(body) {
      lastSent = JSON.stringify(body);
    },
    status: () => status,
  };
}

/** restore: the saved row over the current state; `base` supplies defaults
 * (e.g. from the user's preferences) for what the row does not have */
export async function restore(store: Store<UiState>, load: () => Promise<UiSession>, base?: UiState): Promise<UiState> {
  const row = await load();
  const next = fromSession(row, base ?? store.get());
  store.replace(next);
  return next;
}

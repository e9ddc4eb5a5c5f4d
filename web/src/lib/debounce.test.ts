import { describe, expect, it } from 'vitest';
import { debounce } from './debounce';
import { fakeScheduler } from './testing';

describe('debounce', () => {
  it('runs once, with the last arguments, after the quiet period', () => {
    const t = fakeScheduler();
    const calls: number[] = [];
    const d = debounce((n: number) => calls.push(n), 2000, t.sched);
    d(1);
    t.advance(1000);
    d(2);
    t.advance(1999);
    expect(calls).toEqual([]);
    d(3);
    t.advance(1999);
    expect(calls).toEqual([]);
    t.advance(1);
    expect(calls).toEqual([3]);
    t.advance(10000);
    expect(calls).toEqual([3]);
  });
  it('flush runs what is pending at once, and only that', () => {
    const t = fakeScheduler();
    const calls: string[] = [];
    const d = debounce((s: string) => calls.push(s), 2000, t.sched);
    d.flush();
    expect(calls).toEqual([]);
    d('a');
    expect(d.pending()).toBe(true);
    d.flush();
    expect(calls).toEqual(['a']);
    expect(d.pending()).toBe(false);
    t.advance(5000);
    expect(calls).toEqual(['a']);
  });
  it('cancel drops the pending call', () => {
    const t = fakeScheduler();
    const calls: string[] = [];
    const d = debounce((s: string) => calls.push(s), 2000, t.sched);
    d('a');
    d.cancel();
    t.advance(5000);
    expect(calls).toEqual([]);
    expect(t.pending()).toBe(0);
  });
});

import { describe, expect, it } from 'vitest';
import { rowKeyTarget, tabKeyTarget } from './keys';

describe('rowKeyTarget', () => {
  it('moves by one, by a page, to the ends, and stays inside the table', () => {
    expect(rowKeyTarget('ArrowDown', 0, 10)).toBe(1);
    expect(rowKeyTarget('ArrowUp', 0, 10)).toBe(0);
    expect(rowKeyTarget('ArrowDown', 9, 10)).toBe(9);
    expect(rowKeyTarget('PageDown', 2, 10)).toBe(9);
    expect(rowKeyTarget('PageDown', 2, 100)).toBe(17);
    expect(rowKeyTarget('PageUp', 20, 100)).toBe(5);
    expect(rowKeyTarget('Home', 7, 10)).toBe(0);
    expect(rowKeyTarget('End', 0, 10)).toBe(9);
  });
  it('is not a move for other keys or an empty table', () => {
    expect(rowKeyTarget('Enter', 3, 10)).toBeNull();
    expect(rowKeyTarget('a', 3, 10)).toBeNull();
    expect(rowKeyTarget('ArrowDown', 0, 0)).toBeNull();
  });
});

describe('tabKeyTarget', () => {
  it('wraps with the arrows and jumps with Home and End', () => {
    expect(tabKeyTarget('ArrowRight', 0, 3)).toBe(1);
    expect(tabKeyTarget('ArrowRight', 2, 3)).toBe(0);
    expect(tabKeyTarget('ArrowLeft', 0, 3)).toBe(2);
    expect(tabKeyTarget('Home', 2, 3)).toBe(0);
    expect(tabKeyTarget('End', 0, 3)).toBe(2);
    expect(tabKeyTarget('ArrowDown', 0, 3)).toBeNull();
    expect(tabKeyTarget('ArrowRight', 0, 0)).toBeNull();
  });
});

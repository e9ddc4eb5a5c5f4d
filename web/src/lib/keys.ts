/* Where keys move the focus: the calculations table's rows and tab lists. */

/** the row a key moves to in a table of n rows from row i (null: not a move key) */
export function rowKeyTarget(key: string, i: number, n: number): number | null {
  const to =
    key === 'ArrowDown' ? i + 1
    : key === 'ArrowUp' ? i - 1
    : key === 'PageDown' ? i + 15
    : key === 'PageUp' ? i - 15
    : key === 'Home' ? 0
    : key === 'End' ? n - 1
    : null;
  return to === null || n === 0 ? null : Math.max(0, Math.min(n - 1, to));
}

/** the tab a key selects among n tabs from tab i: arrows wrap (null: not a move key) */
export function tabKeyTarget(key: string, i: number, n: number): number | null {
  if (n === 0) return null;
  if (key === 'ArrowRight') return (i + 1) % n;
  if (key === 'ArrowLeft') return (i - 1 + n) % n;
  if (key === 'Home') return 0;
  if (key === 'End') return n - 1;
  return null;
}

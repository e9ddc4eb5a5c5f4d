import { describe, expect, it } from 'vitest';
import { convert, fixed, formatEnergy, formatEv, formatSeconds, fromEv, fromHartree, HARTREE_IN, toHartree } from './units';

describe('energy units', () => {
  it('converts one hartree to each unit (CODATA 2018)', () => {
    expect(fromHartree(1, 'hartree')).toBe(1);
    expect(fromHartree(1, 'ev')).toBeCloseTo(27.211386245988, 10);
    expect(fromHartree(1, 'kcal/mol')).toBeCloseTo(627.5094740631, 8);
    expect(fromHartree(1, 'kj/mol')).toBeCloseTo(2625.4996394799, 8);
  });
  it('kcal and kJ differ by the thermochemical calorie', () => {
    expect(HARTREE_IN['kj/mol'] / HARTREE_IN['kcal/mol']).toBeCloseTo(4.184, 9);
  });
  it('round-trips through hartree', () => {
    for (const u of ['hartree', 'ev', 'kcal/mol', 'kj/mol'] as const) expect(toHartree(fromHartree(-5.070543958094, u), u)).toBeCloseTo(-5.070543958094, 12);
  });
  it('converts between any two units', () => {
    expect(convert(1, 'ev', 'kcal/mol')).toBeCloseTo(23.060547830619, 8);
    expect(convert(1, 'kcal/mol', 'kj/mol')).toBeCloseTo(4.184, 9);
    expect(convert(3, 'ev', 'ev')).toBe(3);
  });
  it('takes eV values (orbital energies, gaps) to the unit', () => {
    expect(fromEv(27.211386245988, 'hartree')).toBeCloseTo(1, 12);
    expect(fromEv(14.370324691809, 'hartree')).toBeCloseTo(0.5280997, 6);
  });
});

describe('formatting', () => {
  it('uses the precision asked for', () => {
    expect(formatEnergy(-5.070543958094, 'hartree', 6)).toBe('-5.070544 Eh');
    expect(formatEnergy(-5.070543958094, 'hartree', 2)).toBe('-5.07 Eh');
    expect(formatEnergy(-5.070543958094, 'ev', 3)).toBe('-137.977 eV');
    expect(formatEnergy(-5.070543958094, 'kcal/mol', 1)).toBe('-3181.8 kcal/mol');
    expect(formatEnergy(-5.070543958094, 'kj/mol', 0)).toBe('-13313 kJ/mol');
  });
  it('shows a dash for what is missing', () => {
    expect(formatEnergy(null, 'ev', 3)).toBe('—');
    expect(formatEv(undefined, 'ev', 3)).toBe('—');
    expect(fixed(NaN, 2)).toBe('—');
  });
  it('clamps the precision to 0..15 and drops a negative zero', () => {
    expect(fixed(1.23456, 40)).toBe((1.23456).toFixed(15));
    expect(fixed(1.5, -3)).toBe('2');
    expect(fixed(-0.00001, 2)).toBe('0.00');
  });
  it('formats durations', () => {
    expect(formatSeconds(0.0123)).toBe('12.3 ms');
    expect(formatSeconds(3.5)).toBe('3.50 s');
    expect(formatSeconds(600)).toBe('10.0 min');
    expect(formatSeconds(null)).toBe('—');
  });
});

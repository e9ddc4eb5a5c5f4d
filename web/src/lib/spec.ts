/* The spec sent with a calculation, from the parameters of the form. */
import type { Spec } from '../api/types';
import type { Params } from '../state/ui';

export function buildSpec(p: Params): Spec {
  const s: Spec = { method: p.method, task: p.task, charge: p.charge, uhf: p.uhf };
  if (p.task === 'opt' || p.task === 'ohess') s.level = p.level;
  if (p.solvation !== 'none' && p.solvent.trim()) s[p.solvation] = p.solvent.trim();
  return s;
}

export type ParamField = keyof Params | 'general';

/** which field of the form a server message about the spec is about */
export function fieldOfMessage(message: string): ParamField {
  const m = message.toLowerCase();
  if (/\bmethod\b/.test(m)) return 'method';
  if (/\btask\b/.test(m)) return 'task';
  if (/\blevel\b/.test(m)) return 'level';
  if (/alpb|gbsa|solvent|solvation/.test(m)) return 'solvent';
  if (/\buhf\b|unpaired|multiplicity|spin/.test(m)) return 'uhf';
  if (/\bcharge\b|electrons/.test(m)) return 'charge';
  return 'general';
}

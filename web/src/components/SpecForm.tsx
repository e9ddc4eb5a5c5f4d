/* The parameters of a calculation: method, task, optimisation level,
 * solvation and solvent, charge and unpaired electrons. */
import type { ReactNode } from 'react';
import { LEVELS, METHODS, TASKS } from '../api/types';
import type { Params } from '../state/ui';
import type { ParamField } from '../lib/spec';
import { SOLVENTS } from '../lib/chem';

export const TASK_LABEL: Record<string, string> = {
  sp: 'single point',
  opt: 'optimisation',
  hess: 'frequencies',
  ohess: 'optimisation + frequencies',
};

export const METHOD_LABEL: Record<string, string> = { gfn2: 'GFN2-xTB', gfn1: 'GFN1-xTB', gfn0: 'GFN0-xTB', gfnff: 'GFN-FF' };

export function SpecForm({
  params,
  onChange,
  errors = {},
  idPrefix,
}: {
  params: Params;
  onChange: (p: Partial<Params>) => void;
  errors?: Partial<Record<ParamField, string>>;
  idPrefix: string;
}) {
  const needsLevel = params.task === 'opt' || params.task === 'ohess';
  return (
    <div className="params">
      <Field label="Method" error={errors.method}>
        <select name="method" value={params.method} onChange={(e) => onChange({ method: e.target.value as Params['method'] })} aria-invalid={!!errors.method}>
          {METHODS.map((m) => (
            <option key={m} value={m}>
              {METHOD_LABEL[m]}
            </option>
          ))}
        </select>
      </Field>
      <Field label="Task" error={errors.task}>
        <select name="task" value={params.task} onChange={(e) => onChange({ task: e.target.value as Params['task'] })} aria-invalid={!!errors.task}>
          {TASKS.map((t) => (
            <option key={t} value={t}>
              {t} — {TASK_LABEL[t]}
            </option>
          ))}
        </select>
      </Field>
      <Field label="Optimisation level" error={errors.level}>
        <select name="level" value={params.level} disabled={!needsLevel} onChange={(e) => onChange({ level: e.target.value as Params['level'] })} aria-invalid={!!errors.level}>
          {LEVELS.map((l) => (
            <option key={l} value={l}>
              {l}
            </option>
          ))}
        </select>
      </Field>
      <Field label="Solvation" error={undefined}>
        <select name="solvation" value={params.solvation} onChange={(e) => onChange({ solvation: e.target.value as Params['solvation'] })}>
          <option value="none">none (gas phase)</option>
          <option value="alpb">ALPB</option>
          <option value="gbsa">GBSA</option>
        </select>
      </Field>
      <Field label="Solvent" error={errors.solvent}>
        <input name="solvent" list={`${idPrefix}-solvents`} value={params.solvent} disabled={params.solvation === 'none'} onChange={(e) => onChange({ solvent: e.target.value })} aria-invalid={!!errors.solvent} />
        <datalist id={`${idPrefix}-solvents`}>
          {SOLVENTS.map((s) => (
            <option key={s} value={s} />
          ))}
        </datalist>
      </Field>
      <Field label="Charge" error={errors.charge}>
        <input name="charge" type="number" step={1} value={params.charge} onChange={(e) => onChange({ charge: Math.round(Number(e.target.value) || 0) })} aria-invalid={!!errors.charge} />
      </Field>
      <Field label="Unpaired electrons (uhf)" error={errors.uhf}>
        <input name="uhf" type="number" min={0} step={1} value={params.uhf} onChange={(e) => onChange({ uhf: Math.max(0, Math.round(Number(e.target.value) || 0)) })} aria-invalid={!!errors.uhf} />
      </Field>
    </div>
  );
}

function Field({ label, error, children }: { label: string; error: string | undefined; children: ReactNode }) {
  return (
    <label>
      {label}
      {children}
      {error && (
        <span className="field-error" role="alert">
          {error}
        </span>
      )}
    </label>
  );
}

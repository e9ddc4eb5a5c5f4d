/* The molecule workspace: type, paste or drop a structure, set the
 * parameters, see it in 3D, submit. The server checks both the structure and
 * the spec; its messages are shown next to what they are about. */
import { useMemo, useRef, useState, type ChangeEvent, type DragEvent } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api, ApiError } from '../api/client';
import type { InputFormat, Molecule } from '../api/types';
import { navigate, useUi } from '../state/hooks';
import { MAX_CONFORMERS, ui, type Params } from '../state/ui';
import { formatFromName, sniffFormat, toXyz, WATER_XYZ } from '../lib/chem';
import { buildSpec, fieldOfMessage, type ParamField } from '../lib/spec';
import { Viewer3D } from '../components/Viewer3D';
import { SpecForm } from '../components/SpecForm';
import { notify } from '../components/Toasts';

const FORMATS: { v: InputFormat; label: string }[] = [
  { v: 'xyz', label: 'XYZ' },
  { v: 'sdf', label: 'SDF / MOL' },
  { v: 'smiles', label: 'SMILES' },
];

export function WorkspaceView() {
  const editor = useUi((s) => s.editor);
  const params = useUi((s) => s.params);
  const drafts = useUi((s) => s.drafts);
  const activeMoleculeId = useUi((s) => s.activeMoleculeId);
  const qc = useQueryClient();
  const [inputError, setInputError] = useState<ApiError | null>(null);
  const [paramErrors, setParamErrors] = useState<Partial<Record<ParamField, string>>>({});
  const [busy, setBusy] = useState(false);
  const [over, setOver] = useState(false);
  const fileRef = useRef<HTMLInputElement>(null);

  const setEditor = (p: Partial<typeof editor>) => {
    ui.set((s) => ({ editor: { ...s.editor, ...p } }));
    setInputError(null);
  };
  const setParams = (p: Partial<Params>) => {
    ui.set((s) => ({ params: { ...s.params, ...p } }));
    setParamErrors({});
  };

  // SMILES has no coordinates: the 3D view shows the molecule the server built
  const molecule = useQuery({
    queryKey: ['molecule', activeMoleculeId],
    queryFn: () => api.molecule(activeMoleculeId!),
    enabled: !!activeMoleculeId && editor.format === 'smiles',
  });
  const preview = useMemo((): { data: string; format: 'xyz' | 'sdf' | 'mol' } | null => {
    if (editor.format === 'smiles') {
      const m = molecule.data;
      return m && m.coordinates?.length ? { data: toXyz(m.atomic_numbers, m.coordinates, m.name ?? ''), format: 'xyz' } : null;
    }
    return { data: editor.text, format: editor.format };
  }, [editor.text, editor.format, molecule.data]);

  const readFile = async (f: File) => {
    const text = await f.text();
    const fmt = formatFromName(f.name) ?? sniffFormat(text) ?? editor.format;
    setEditor({ text, format: fmt, name: editor.name || f.name.replace(/\.[^.]+$/, '') });
  };
  const onFile = (e: ChangeEvent<HTMLInputElement>) => {
    const f = e.target.files?.[0];
    if (f) void readFile(f);
    e.target.value = '';
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    const f = e.dataTransfer.files?.[0];
    if (f) void readFile(f);
  };

  const submit = async () => {
    setInputError(null);
    setParamErrors({});
    if (!editor.text.trim()) {
      setInputError(new ApiError(0, 'input.empty', 'validation', 'Paste or upload a structure first.'));
      return;
    }
    setBusy(true);
    let moleculeId: string;
    try {
      const m = await api.createMolecule({
        format: editor.format,
        data: editor.text,
        ...(editor.name.trim() ? { name: editor.name.trim() } : {}),
        ...(editor.format === 'smiles' && editor.conformers > 1 ? { conformers: editor.conformers } : {}),
      });
      moleculeId = m.id;
      qc.setQueryData(['molecule', m.id], m);
      ui.set({ activeMoleculeId: m.id });
    } catch (e) {
      setInputError(e instanceof ApiError ? e : new ApiError(0, 'unknown', 'unknown', String(e)));
      setBusy(false);
      return;
    }
    try {
      const r = await api.submit({ molecule_id: moleculeId, spec: buildSpec(params) });
      ui.set({ activeCalculationId: r.id });
      qc.invalidateQueries({ queryKey: ['calculations'] });
      notify('info', r.reused ? 'Identical work was done before: showing its result.' : 'Calculation submitted.');
      navigate(`/results/${r.id}`);
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(0, 'unknown', 'unknown', String(e));
      if (err.code.startsWith('spec') || err.status === 422) setParamErrors({ [fieldOfMessage(err.message)]: err.message });
      else setParamErrors({ general: err.message });
    } finally {
      setBusy(false);
    }
  };

  const keepDraft = () => {
    if (!editor.text.trim()) return;
    ui.set((s) => ({
      drafts: [
        { id: `d${Date.now().toString(36)}`, editor: { ...s.editor }, params: { ...s.params }, saved_at: new Date().toISOString() },
        ...s.drafts,
      ].slice(0, 20),
    }));
    notify('info', 'Kept as a draft.');
  };

  return (
    <section className="view" aria-labelledby="ws-title">
      <div className="view-head">
        <h1 id="ws-title">Molecule workspace</h1>
        <button type="button" className="btn" onClick={keepDraft} disabled={!editor.text.trim()}>
          Keep as draft
        </button>
        <button type="button" className="btn primary" onClick={submit} disabled={busy} data-testid="submit">
          {busy ? 'Submitting…' : 'Submit calculation'}
        </button>
      </div>
      <div className="grid grid-2">
        <div className="card stack">
          <div className="row">
            <label style={{ flex: 1 }}>
              Name
              <input value={editor.name} onChange={(e) => setEditor({ name: e.target.value })} placeholder="e.g. water" />
            </label>
            <label>
              Format
              <select value={editor.format === 'mol' ? 'sdf' : editor.format} onChange={(e) => setEditor({ format: e.target.value as InputFormat })}>
                {FORMATS.map((f) => (
                  <option key={f.v} value={f.v}>
                    {f.label}
                  </option>
                ))}
              </select>
            </label>
            {editor.format === 'smiles' && (
              <label title="The server embeds this many conformers (ETKDGv3, MMFF94-minimised) and keeps the lowest">
                Conformers
                <input
                  type="number"
                  name="conformers"
                  min={1}
                  max={MAX_CONFORMERS}
                  step={1}
                  style={{ width: '6em' }}
                  value={editor.conformers}
                  onChange={(e) => {
                    const n = Math.round(Number(e.target.value));
                    setEditor({ conformers: Number.isFinite(n) ? Math.max(1, Math.min(MAX_CONFORMERS, n)) : 1 });
                  }}
                />
              </label>
            )}
          </div>
          <label htmlFor="editor-text">Structure</label>
          <div
            className={`drop${over ? ' over' : ''}`}
            onDragOver={(e) => {
              e.preventDefault();
              setOver(true);
            }}
            onDragLeave={() => setOver(false)}
            onDrop={onDrop}
          >
            <textarea
              id="editor-text"
              className="editor mono"
              data-testid="editor"
              spellCheck={false}
              value={editor.text}
              aria-invalid={!!inputError}
              aria-describedby={inputError ? 'editor-error' : 'editor-help'}
              placeholder={editor.format === 'smiles' ? 'CCO' : editor.format === 'xyz' ? '3\nwater\nO 0 0 0.117\nH 0 0.757 -0.469\nH 0 -0.757 -0.469' : 'an SDF / MOL block'}
              onChange={(e) => {
                const text = e.target.value;
                const sniffed = !editor.text.trim() ? sniffFormat(text) : null;
                setEditor(sniffed ? { text, format: sniffed } : { text });
              }}
            />
          </div>
          {inputError ? (
            <p id="editor-error" className="field-error" role="alert" data-code={inputError.code}>
              {inputError.message}
            </p>
          ) : (
            <p id="editor-help" className="muted" style={{ margin: 0 }}>
              Paste XYZ, SDF or SMILES, drop a file here, or{' '}
              <button type="button" className="btn small" onClick={() => fileRef.current?.click()}>
                upload a file
              </button>{' '}
              <button type="button" className="btn small" onClick={() => setEditor({ text: WATER_XYZ, format: 'xyz', name: editor.name || 'water' })}>
                example: water
              </button>
            </p>
          )}
          <input ref={fileRef} type="file" accept=".xyz,.sdf,.sd,.mol,.smi,.smiles,.txt" hidden onChange={onFile} />
        </div>

        <div className="card">
          {preview ? (
            <>
              <Viewer3D data={preview.data} format={preview.format} label="Structure being edited" />
              {editor.format === 'smiles' && molecule.data?.embedding && <EmbeddingNote e={molecule.data.embedding} />}
            </>
          ) : (
            <div className="state state-empty" style={{ height: 360 }}>
              SMILES carry no coordinates: the server builds the 3D structure when you submit, and it appears here.
            </div>
          )}
        </div>

        <fieldset className="card" style={{ gridColumn: '1 / -1' }}>
          <legend>
            <h2 style={{ margin: 0 }}>Parameters</h2>
          </legend>
          <SpecForm params={params} onChange={setParams} errors={paramErrors} idPrefix="ws" />
          {paramErrors.general && (
            <p className="field-error" role="alert">
              {paramErrors.general}
            </p>
          )}
        </fieldset>

        {drafts.length > 0 && (
          <div className="card" style={{ gridColumn: '1 / -1' }}>
            <h2>Drafts</h2>
            <table className="data">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Format</th>
                  <th>Spec</th>
                  <th>Kept</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {drafts.map((d) => (
                  <tr key={d.id}>
                    <td>{d.editor.name || <span className="muted">unnamed</span>}</td>
                    <td>{d.editor.format}</td>
                    <td>
                      {d.params.method} / {d.params.task}
                    </td>
                    <td>{d.saved_at ? new Date(d.saved_at).toLocaleString() : ''}</td>
                    <td>
                      <button type="button" className="btn small" onClick={() => ui.set({ editor: { ...d.editor }, params: { ...d.params } })}>
                        Open
                      </button>{' '}
                      <button type="button" className="btn small danger" onClick={() => ui.set((s) => ({ drafts: s.drafts.filter((x) => x.id !== d.id) }))}>
                        Delete
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>
    </section>
  );
}

/** how the server made the SMILES 3D: which conformer, its energy, and the
 * stereo the SMILES left open */
function EmbeddingNote({ e }: { e: NonNullable<Molecule['embedding']> }) {
  const open = (e.unspecified_stereocentres?.length ?? 0) + (e.unspecified_double_bonds?.length ?? 0);
  return (
    <p className="muted" data-testid="embedding-note">
      Made 3D by {e.method ?? 'ETKDGv3'} + {e.force_field ?? 'MMFF94'}
      {e.conformers_requested && e.conformers_requested > 1
        ? `: ${e.conformers_requested} conformers embedded, ${e.conformers} distinct, the lowest kept`
        : ''}
      {typeof e.ff_energy_kcal === 'number' ? `, ${e.ff_energy_kcal.toFixed(2)} kcal/mol` : ''}
      {open ? `; ${open} stereo element${open > 1 ? 's' : ''} left open by the SMILES` : ''}.
    </p>
  );
}

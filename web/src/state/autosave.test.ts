import { describe, expect, it } from 'vitest';
import type { UiSession, UiSessionBody } from '../api/types';
import { fakeScheduler } from '../lib/testing';
import { restore, startAutosave, unsyncedLocal } from './autosave';
import { createStore, defaultState, fromSession, toSessionBody, type UiState } from './ui';

const MOL = '01a24e90-4d8a-7825-a81d-5a905e3b5727';
const CALC = '01a24e90-5ecf-719a-b421-18bd572e189f';
const flushPromises = () => new Promise((r) => setTimeout(r, 0));

function setup() {
  const t = fakeScheduler();
  const store = createStore<UiState>(defaultState());
  const saved: { body: UiSessionBody; keepalive: boolean }[] = [];
  const auto = startAutosave({
    store,
    save: async (body, o) => {
      saved.push({ body, keepalive: o.keepalive });
    },
    delayMs: 2000,
    sched: t.sched,
  });
  return { t, store, saved, auto };
}

describe('autosave', () => {
  it('saves 2 s after the last change, once for a burst of typing', () => {
    const { t, store, saved } = setup();
    for (const text of ['3', '3\n', '3\nwater', '3\nwater\nO 0 0 0']) {
      store.set((s) => ({ editor: { ...s.editor, text } }));
      t.advance(500);
    }
    expect(saved).toHaveLength(0);
    t.advance(1499);
    expect(saved).toHaveLength(0);
    t.advance(1);
    expect(saved).toHaveLength(1);
    expect((saved[0].body.editor_content as { text: string }).text).toBe('3\nwater\nO 0 0 0');
  });
  it('does not send the same row twice', async () => {
    const { t, store, saved } = setup();
    store.set({ view: '/calculations' });
    t.advance(2000);
    await flushPromises();
    store.set({ view: '/dashboard' });
    store.set({ view: '/calculations' });
    t.advance(2000);
    expect(saved).toHaveLength(1);
  });
  it('flushes at once with keepalive when the page goes away', () => {
    const { store, saved, auto } = setup();
    store.set({ theme: 'dark' });
    auto.flush(true);
    expect(saved).toHaveLength(1);
    expect(saved[0].keepalive).toBe(true);
    expect(saved[0].body.theme_preference).toBe('dark');
  });
  it('sends again after a failed save', async () => {
    const t = fakeScheduler();
    const store = createStore<UiState>(defaultState());
    let fail = true;
    const sent: UiSessionBody[] = [];
    const statuses: string[] = [];
    startAutosave({
      store,
      sched: t.sched,
      save: async (b) => {
        sent.push(b);
        if (fail) throw new Error('503');
      },
      onStatus: (s) => statuses.push(s),
    });
    store.set({ view: '/batches' });
    t.advance(2000);
    await flushPromises();
    expect(statuses.at(-1)).toBe('error');
    fail = false;
    store.set({ sidebarCollapsed: true });
    store.set({ sidebarCollapsed: false });
    t.advance(2000);
    await flushPromises();
    expect(sent).toHaveLength(2);
    expect(statuses.at(-1)).toBe('saved');
  });
  it('stop drops what is pending', () => {
    const { t, store, saved, auto } = setup();
    store.set({ view: '/settings' });
    auto.stop();
    t.advance(5000);
    expect(saved).toHaveLength(0);
  });
});

describe('the session row', () => {
  it('round-trips every part of the state', () => {
    const s: UiState = {
      ...defaultState(),
      view: `/results/${CALC}`,
      theme: 'dark',
      activeMoleculeId: MOL,
      activeCalculationId: CALC,
      editor: { name: 'water', format: 'xyz', text: '3\nwater\nO 0 0 0.117\nH 0 0.757 -0.467\nH 0 -0.757 -0.467\n', conformers: 1 },
      params: { method: 'gfn1', task: 'opt', level: 'tight', solvation: 'alpb', solvent: 'methanol', charge: -1, uhf: 1 },
      drafts: [{ id: 'd1', editor: { name: 'x', format: 'smiles', text: 'CCO', conformers: 12 }, params: defaultState().params, saved_at: '2026-01-01T00:00:00Z' }],
      filters: { ...defaultState().filters, status: 'failed', method: 'gfn2', sort: 'total_energy', desc: false, pageSize: 500 },
      sidebarCollapsed: true,
      tabs: { results: 'orbitals' },
    };
    const row = JSON.parse(JSON.stringify(toSessionBody(s))) as UiSession;
    expect(fromSession(row)).toEqual(s);
  });
  it('fills what a row lacks or has wrong from the defaults', () => {
    const base = defaultState();
    base.params.method = 'gfnff';
    const row = {
      current_view: 'not-a-path',
      active_molecule_id: 'nope',
      active_calculation_id: null,
      editor_content: { text: 42, format: 'pdb', params: { method: 'gfn9', charge: 'x', uhf: -3 } },
      sidebar_state: 'x',
      theme_preference: 'purple',
      ui_preferences: { filters: { sort: 'bogus', pageSize: 1e9 } },
      last_activity: null,
    } as unknown as UiSession;
    const s = fromSession(row, base);
    expect(s.view).toBe('/workspace');
    expect(s.activeMoleculeId).toBeNull();
    expect(s.editor).toEqual(base.editor);
    expect(s.params.method).toBe('gfnff');
    expect(s.params.uhf).toBe(0);
    expect(s.theme).toBe('auto');
    expect(s.filters.sort).toBe('created_at');
    expect(s.filters.pageSize).toBe(10000);
  });
  it('an empty row (new user) gives the defaults', () => {
    const row: UiSession = {
      current_view: null,
      active_molecule_id: null,
      active_calculation_id: null,
      editor_content: null,
      sidebar_state: null,
      theme_preference: null,
      ui_preferences: null,
      last_activity: null,
    };
    expect(fromSession(row)).toEqual(defaultState());
  });
  it('never restores onto the log-in page', () => {
    expect(fromSession({ current_view: '/login' } as UiSession).view).toBe('/workspace');
  });
  it('ids that are not UUIDs are not sent', () => {
    const b = toSessionBody({ ...defaultState(), activeMoleculeId: 'abc' });
    expect(b.active_molecule_id).toBeNull();
  });
  it('restore puts the saved row into the store', async () => {
    const store = createStore<UiState>(defaultState());
    const saved = toSessionBody({ ...defaultState(), view: '/batches', editor: { name: '', format: 'smiles', text: 'c1ccccc1', conformers: 5 } });
    await restore(store, async () => ({ ...(saved as UiSession), last_activity: null }));
    expect(store.get().view).toBe('/batches');
    expect(store.get().editor.text).toBe('c1ccccc1');
    expect(store.get().editor.conformers).toBe(5);
  });
  it('a conformer count the server would refuse is not restored', () => {
    for (const bad of [0, 51, 2.5, '7', null]) {
      const body = toSessionBody(defaultState());
      const row = { ...(body as UiSession), editor_content: { ...(body.editor_content as object), conformers: bad } } as UiSession;
      expect(fromSession(row).editor.conformers).toBe(1);
    }
  });
});

describe('the local copy', () => {
  function memoryStorage() {
    const m = new Map<string, string>();
    return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) };
  }
  it('keeps each change unsynced until the server has it', async () => {
    const t = fakeScheduler();
    const storage = memoryStorage();
    const local = { key: 'k', storage };
    const store = createStore<UiState>(defaultState());
    startAutosave({ store, sched: t.sched, local, save: async () => undefined });
    store.set((s) => ({ editor: { ...s.editor, text: 'CC' } }));
    expect((unsyncedLocal(local)?.editor_content as { text: string }).text).toBe('CC');
    t.advance(2000);
    await flushPromises();
    expect(unsyncedLocal(local)).toBeNull();
  });
  it('a state the server never got is sent at once on the next load', async () => {
    const t = fakeScheduler();
    const storage = memoryStorage();
    const local = { key: 'k', storage };
    // the browser closed before the save: the change is only here
    const s1 = createStore<UiState>(defaultState());
    startAutosave({ store: s1, sched: t.sched, local, save: async () => undefined });
    s1.set((s) => ({ editor: { ...s.editor, text: 'typed, then the browser closed' } }));
    // the next load: the server still has the old row
    const serverRow = toSessionBody(defaultState());
    const pending = unsyncedLocal(local);
    const s2 = createStore<UiState>(defaultState());
    await restore(s2, async () => ({ ...(serverRow as UiSession), ...pending, last_activity: null }));
    expect(s2.get().editor.text).toBe('typed, then the browser closed');
    const sent: UiSessionBody[] = [];
    const a = startAutosave({ store: s2, sched: t.sched, local, serverHas: serverRow, save: async (b) => void sent.push(b) });
    a.sync();
    expect((sent[0].editor_content as { text: string }).text).toBe('typed, then the browser closed');
  });
});

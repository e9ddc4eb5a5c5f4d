import { useSyncExternalStore } from 'react';
import { ui, type UiState } from './ui';

export function useUi<T>(select: (s: UiState) => T): T {
  return useSyncExternalStore(ui.subscribe, () => select(ui.get()), () => select(ui.get()));
}

export function navigate(path: string, opts: { replace?: boolean } = {}): void {
  if (typeof window !== 'undefined' && window.location.pathname !== path) {
    if (opts.replace) window.history.replaceState(null, '', path);
    else window.history.pushState(null, '', path);
  }
  ui.set({ view: path });
}

export function setTab(view: string, tab: string): void {
  ui.set((s) => ({ tabs: { ...s.tabs, [view]: tab } }));
}

import { useSyncExternalStore } from 'react';

export interface Toast {
  id: number;
  kind: 'info' | 'success' | 'error';
  text: string;
  href?: string;
}

let toasts: Toast[] = [];
let next = 1;
const listeners = new Set<() => void>();
const emit = () => listeners.forEach((l) => l());

export function notify(kind: Toast['kind'], text: string, href?: string, ms = 6000): void {
  const t = { id: next++, kind, text, href };
  toasts = [...toasts.slice(-4), t];
  emit();
  setTimeout(() => dismiss(t.id), ms);
}

export function dismiss(id: number): void {
  toasts = toasts.filter((t) => t.id !== id);
  emit();
}

export function Toasts({ onOpen }: { onOpen: (href: string) => void }) {
  const list = useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => toasts,
  );
  return (
    <div className="toasts" role="region" aria-live="polite" aria-label="Notifications">
      {list.map((t) => (
        <div key={t.id} className={`toast toast-${t.kind}`} role={t.kind === 'error' ? 'alert' : 'status'}>
          {t.href ? (
            <a
              href={t.href}
              onClick={(e) => {
                e.preventDefault();
                onOpen(t.href!);
                dismiss(t.id);
              }}
            >
              {t.text}
            </a>
          ) : (
            <span>{t.text}</span>
          )}
          <button type="button" className="toast-x" aria-label="Dismiss" onClick={() => dismiss(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}

/* A confirmation as a modal <dialog> (showModal: the page behind is inert,
 * Tab stays inside). Escape or "Cancel" closes it without acting; either
 * way focus goes back to the element that opened it. The safe choice has
 * the focus when it opens. */
import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';

type Ask = { title: string; body: ReactNode; confirm: string; resolve: (ok: boolean) => void; opener: HTMLElement | null };

/** const [confirm, dialog] = useConfirm(); … if (!(await confirm({...}))) return; … render {dialog} */
export function useConfirm(): [(o: { title: string; body: ReactNode; confirm: string }) => Promise<boolean>, ReactNode] {
  const [ask, setAsk] = useState<Ask | null>(null);
  const confirm = useCallback(
    (o: { title: string; body: ReactNode; confirm: string }) =>
      new Promise<boolean>((resolve) => setAsk({ ...o, resolve, opener: document.activeElement as HTMLElement | null })),
    [],
  );
  const close = (ok: boolean) => {
    if (!ask) return;
    ask.resolve(ok);
    const opener = ask.opener;
    setAsk(null);
    // after React has removed the dialog; the opener may be gone (a revoked row)
    requestAnimationFrame(() => (opener?.isConnected ? opener : document.getElementById('main'))?.focus());
  };
  return [confirm, ask ? <Dialog ask={ask} close={close} /> : null];
}

function Dialog({ ask, close }: { ask: Ask; close: (ok: boolean) => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const cancelBtn = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal?.();
    cancelBtn.current?.focus();
  }, []);
  return (
    <dialog
      ref={ref}
      className="dialog card"
      aria-labelledby="confirm-title"
      aria-describedby="confirm-body"
      data-testid="confirm-dialog"
      onCancel={(e) => {
        // Escape: close through React so that focus is returned
        e.preventDefault();
        close(false);
      }}
    >
      <h2 id="confirm-title">{ask.title}</h2>
      <div id="confirm-body">{ask.body}</div>
      <div className="row" style={{ justifyContent: 'flex-end', marginTop: '0.8rem' }}>
        <button type="button" className="btn" ref={cancelBtn} onClick={() => close(false)}>
          Cancel
        </button>
        <button type="button" className="btn danger" onClick={() => close(true)} data-testid="confirm-ok">
          {ask.confirm}
        </button>
      </div>
    </dialog>
  );
}

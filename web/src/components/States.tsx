import type { ReactNode } from 'react';
import { ApiError } from '../api/client';

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <div className="state state-loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> {what}…
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state state-empty">{children}</div>;
}

export function ErrorBox({ error, retry }: { error: unknown; retry?: () => void }) {
  const e = error as Error;
  const code = e instanceof ApiError ? e.code : null;
  return (
    <div className="state state-error" role="alert">
      <strong>Something went wrong.</strong> {e?.message ?? String(error)}
      {code && <code className="err-code">{code}</code>}
      {retry && (
        <button type="button" className="btn small" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** loading / error / empty / content of a query */
export function QueryState<T>({
  q,
  empty,
  isEmpty,
  children,
}: {
  q: { isLoading: boolean; error: unknown; data: T | undefined; refetch: () => unknown };
  empty?: ReactNode;
  isEmpty?: (d: T) => boolean;
  children: (d: T) => ReactNode;
}) {
  if (q.isLoading) return <Loading />;
  if (q.error) return <ErrorBox error={q.error} retry={() => q.refetch()} />;
  if (q.data === undefined) return <Loading />;
  if (isEmpty && isEmpty(q.data)) return <Empty>{empty ?? 'Nothing here yet.'}</Empty>;
  return <>{children(q.data)}</>;
}

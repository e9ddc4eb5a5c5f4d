/* Tabs as the WAI-ARIA tabs pattern: one tab in the Tab order (the selected
 * one), ArrowLeft/ArrowRight move to and select the previous/next tab
 * (wrapping), Home/End the first/last; each tab controls its panel by id. */
import { useRef, type KeyboardEvent, type ReactNode } from 'react';
import { tabKeyTarget } from '../lib/keys';

export function Tabs<K extends string>({
  id,
  label,
  tabs,
  selected,
  onSelect,
  children,
}: {
  /** prefix of the tab and panel ids */
  id: string;
  label: string;
  tabs: readonly (readonly [K, string])[];
  selected: string;
  onSelect: (k: K) => void;
  children: ReactNode;
}) {
  const list = useRef<HTMLDivElement>(null);
  const onKey = (e: KeyboardEvent) => {
    const i = tabs.findIndex((t) => t[0] === selected);
    const n = tabKeyTarget(e.key, Math.max(0, i), tabs.length);
    if (n === null) return;
    e.preventDefault();
    onSelect(tabs[n][0]);
    list.current?.querySelector<HTMLElement>(`#${id}-tab-${tabs[n][0]}`)?.focus();
  };
  return (
    <>
      <div className="tabs" role="tablist" aria-label={label} ref={list} onKeyDown={onKey}>
        {tabs.map(([k, text]) => (
          <button
            key={k}
            role="tab"
            type="button"
            id={`${id}-tab-${k}`}
            aria-selected={selected === k}
            aria-controls={`${id}-panel-${k}`}
            tabIndex={selected === k ? 0 : -1}
            onClick={() => onSelect(k)}
          >
            {text}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`${id}-panel-${selected}`} aria-labelledby={`${id}-tab-${selected}`} className="card" tabIndex={0}>
        {children}
      </div>
    </>
  );
}

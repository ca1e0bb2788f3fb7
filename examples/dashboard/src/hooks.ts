/** Hooks shared by the panels. */
import { useEffect, useState } from 'react';
import type { RootState } from './store';
import { useAppStore } from './store';

/**
 * A selector re-evaluated at most every `ms` milliseconds. Panels that list a whole fleet use
 * it: re-rendering 10,000 rows per animation frame would cost more than the map itself.
 */
export function useThrottledSelector<T>(selector: (s: RootState) => T, ms: number): T {
  const store = useAppStore();
  const [value, setValue] = useState(() => selector(store.getState()));
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    let last = 0;
    const run = () => {
      timer = null;
      last = Date.now();
      setValue(() => selector(store.getState()));
    };
    const unsubscribe = store.subscribe(() => {
      if (timer !== null) return;
      timer = setTimeout(run, Math.max(0, ms - (Date.now() - last)));
    });
    run();
    return () => {
      unsubscribe();
      if (timer !== null) clearTimeout(timer);
    };
  }, [store, selector, ms]);
  return value;
}

/** Re-runs `fn` every `ms` while mounted (and once at once). */
export function useInterval(fn: () => void, ms: number, deps: unknown[]): void {
  useEffect(() => {
    fn();
    const id = setInterval(fn, ms);
    return () => clearInterval(id);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
}

export function formatNumber(v: number | null | undefined, digits = 1): string {
  return v === null || v === undefined || Number.isNaN(v) ? '–' : v.toFixed(digits);
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString();
}

import { type TouchEvent, useCallback, useRef, useState } from 'react';

const TRIGGER = 60; // px the indicator has to travel (the finger travels 1/0.6 of it)
const MAX_PULL = 100;

/** Pull-to-refresh for touch screens: a downward drag that starts with the page scrolled to the
 * top and is released past TRIGGER calls `onRefresh`. `pull` (px) drives the indicator. */
export function usePullToRefresh(onRefresh: () => void) {
  const start = useRef<number | null>(null);
  const latest = useRef(0);
  const [pull, setPull] = useState(0);

  const move = (value: number) => {
    latest.current = value;
    setPull(value);
  };
  const onTouchStart = useCallback((e: TouchEvent) => {
    start.current = window.scrollY <= 0 && e.touches.length === 1 ? e.touches[0].clientY : null;
  }, []);
  const onTouchMove = useCallback((e: TouchEvent) => {
    if (start.current === null) return;
    const dy = e.touches[0].clientY - start.current;
    move(dy > 0 ? Math.min(MAX_PULL, dy * 0.6) : 0);
  }, []);
  const onTouchEnd = useCallback(() => {
    if (start.current === null) return;
    start.current = null;
    const released = latest.current;
    move(0);
    if (released >= TRIGGER) onRefresh();
  }, [onRefresh]);

  const onTouchCancel = useCallback(() => {
    start.current = null;
    move(0);
  }, []);

  return {
    pull,
    ready: pull >= TRIGGER,
    handlers: { onTouchStart, onTouchMove, onTouchEnd, onTouchCancel },
  };
}

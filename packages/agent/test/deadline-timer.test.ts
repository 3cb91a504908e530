import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeadlineTimer } from '../src/deadline-timer.js';

/** The runtime's own deadline clock stands still while a person is asked (ask_human, pauseDeadline). */
describe('DeadlineTimer', () => {
  beforeEach(() => void vi.useFakeTimers({ now: 0 }));
  afterEach(() => void vi.useRealTimers());

  it('fires at the deadline when never paused', () => {
    const expire = vi.fn();
    new DeadlineTimer(1_000, expire);
    vi.advanceTimersByTime(999);
    expect(expire).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(expire).toHaveBeenCalledOnce();
  });

  it('does not fire while paused, and moves the deadline by the time paused', () => {
    const expire = vi.fn();
    const t = new DeadlineTimer(1_000, expire);
    vi.advanceTimersByTime(400);
    const resume = t.pause();
    vi.advanceTimersByTime(10_000);
    expect(expire).not.toHaveBeenCalled();
    resume();
    vi.advanceTimersByTime(599);
    expect(expire).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(expire).toHaveBeenCalledOnce();
  });

  it("takes the control plane's deadline when resumed with one, and resumes once", () => {
    const expire = vi.fn();
    const t = new DeadlineTimer(1_000, expire);
    const resume = t.pause();
    vi.advanceTimersByTime(5_000);
    resume(new Date(8_000).toISOString());
    resume(new Date(6_000).toISOString());
    vi.advanceTimersByTime(2_999);
    expect(expire).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(expire).toHaveBeenCalledOnce();
  });

  it('stop cancels it', () => {
    const expire = vi.fn();
    const t = new DeadlineTimer(1_000, expire);
    t.stop();
    vi.advanceTimersByTime(5_000);
    expect(expire).not.toHaveBeenCalled();
  });
});

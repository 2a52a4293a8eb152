/**
 * Tracks generated text against stop strings, for streaming: see {@link createStopTracker}.
 *
 * @example
 * ```ts
 * const tracker: StopTracker = createStopTracker(['\n\n'])
 * ```
 */
export type StopTracker = {
  /**
   * Adds the next piece of generated text. Returns the text that is now final (`release`, possibly
   * `''`) and whether a stop string has appeared (`stopped`; the text then ends before it and
   * further pushes are ignored).
   */
  push(piece: string): { release: string; stopped: boolean }
  /** Generation ended without a stop string: releases the text held back so far. */
  finish(): string
  /** The final text so far (everything released). */
  readonly text: string
  readonly stopped: boolean
}

/**
 * Creates a tracker that finds the first stop string in generated text, even when it spans several
 * pieces, and holds back any tail that could still become one, so streamed text never has to be
 * taken back: the concatenation of all `release`s (plus `finish()`) is exactly the final text,
 * which ends before the first stop string.
 *
 * @example
 * ```ts
 * const tracker = createStopTracker(['END'])
 * tracker.push('Hello E') // { release: 'Hello ', stopped: false }
 * tracker.push('ND and more') // { release: '', stopped: true }
 * tracker.text // 'Hello '
 * ```
 */
export function createStopTracker(stop: readonly string[]): StopTracker {
  const stops = stop.filter((value) => value.length > 0)
  const longest = stops.reduce((max, value) => Math.max(max, value.length), 0)
  let full = ''
  let released = 0
  let stopped = false

  function heldTail(): number {
    // The longest suffix of the unreleased text that is a proper prefix of a stop string.
    const start = Math.max(released, full.length - longest + 1)
    for (let from = start; from < full.length; from++) {
      const tail = full.slice(from)
      if (stops.some((value) => value.length > tail.length && value.startsWith(tail)))
        return full.length - from
    }
    return 0
  }

  return {
    push(piece) {
      if (stopped) return { release: '', stopped }
      const searchFrom = Math.max(0, full.length - longest + 1)
      full += piece
      let at = -1
      for (const value of stops) {
        const index = full.indexOf(value, searchFrom)
        if (index >= 0 && (at < 0 || index < at)) at = index
      }
      if (at >= 0) {
        stopped = true
        const release = full.slice(released, at)
        full = full.slice(0, at)
        released = at
        return { release, stopped }
      }
      const end = full.length - heldTail()
      const release = full.slice(released, end)
      released = end
      return { release, stopped }
    },
    finish() {
      const release = full.slice(released)
      released = full.length
      return release
    },
    get text() {
      return full.slice(0, released)
    },
    get stopped() {
      return stopped
    },
  }
}

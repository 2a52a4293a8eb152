import type { Io } from './output.ts'

/**
 * One step of a slow operation: `update` changes its label while it runs, `done`/`fail` end it.
 *
 * @example
 * ```ts
 * const step = progress.step('Deploying contracts')
 * step.done('reused from network.json')
 * ```
 */
export type ProgressStep = {
  /** Replaces the running label's detail (e.g. `epoch 3/12`). */
  update(detail: string): void
  /** Byte progress of a transfer: a bar on a terminal, nothing otherwise. */
  bytes(done: number, total: number): void
  done(detail?: string): void
  fail(detail?: string): void
}

/**
 * Progress on stderr for anything slower than about a second: a spinner line redrawn in place on a
 * terminal, one `✓ label (detail, 1.2 s)` line per finished step otherwise (logs, CI, pipes).
 * Never writes to stdout, so `--json` output stays one parseable document.
 *
 * @example
 * ```ts
 * const progress = createProgress(io)
 * const step = progress.step('Starting anvil')
 * step.done('http://127.0.0.1:8545')
 * ```
 */
export type Progress = {
  step(label: string): ProgressStep
  /** A plain line (a note between steps). */
  note(text: string): void
}

const silentStep: ProgressStep = { update() {}, bytes() {}, done() {}, fail() {} }
const silentProgress: Progress = { step: () => silentStep, note() {} }

const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']

/**
 * `1.5 MB` / `812 kB` / `20 B`.
 *
 * @example
 * ```ts
 * formatBytes(103_203) // '103.2 kB'
 * ```
 */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`
  return `${bytes} B`
}

function seconds(startedAt: number): string {
  return `${((performance.now() - startedAt) / 1000).toFixed(1)} s`
}

/**
 * Creates the progress display; `tty` decides between the redrawn spinner and plain lines
 * (default: `io.stderrIsTTY`). `plain: false` prints nothing at all when not on a terminal (for
 * quick commands whose scripts want stderr quiet).
 *
 * @example
 * ```ts
 * const progress = createProgress(io, { tty: false })
 * ```
 */
export function createProgress(io: Io, options: { tty?: boolean; plain?: boolean } = {}): Progress {
  const tty = options.tty ?? io.stderrIsTTY ?? false
  if (!tty && options.plain === false) return silentProgress
  let active: { label: string; detail: string; startedAt: number } | undefined
  let frame = 0
  let timer: ReturnType<typeof setInterval> | undefined

  const render = () => {
    if (!tty || active === undefined) return
    const detail = active.detail ? ` ${active.detail}` : ''
    io.stderr(`\r\x1b[K${frames[frame % frames.length]} ${active.label}…${detail}`)
  }
  const finish = (mark: string, label: string, detail: string | undefined, startedAt: number) => {
    if (timer !== undefined) clearInterval(timer)
    timer = undefined
    active = undefined
    const suffix = [detail, seconds(startedAt)].filter(Boolean).join(', ')
    io.stderr(`${tty ? '\r\x1b[K' : ''}${mark} ${label} (${suffix})\n`)
  }

  return {
    step(label) {
      const startedAt = performance.now()
      const state = { label, detail: '', startedAt }
      let ended = false
      active = state
      if (tty) {
        render()
        timer ??= setInterval(() => {
          frame++
          render()
        }, 80)
        timer.unref()
      }
      return {
        update(detail) {
          state.detail = detail
          render()
        },
        bytes(done, total) {
          const ratio = total > 0 ? Math.min(1, done / total) : 1
          const width = 24
          const filled = Math.round(ratio * width)
          state.detail = `[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${Math.round(ratio * 100)}% ${formatBytes(done)}/${formatBytes(total)}`
          render()
        },
        done(detail) {
          if (ended) return
          ended = true
          finish('✓', label, detail, startedAt)
        },
        fail(detail) {
          if (ended) return
          ended = true
          finish('✗', label, detail, startedAt)
        },
      }
    },
    note(text) {
      if (tty && active) io.stderr('\r\x1b[K')
      io.stderr(`${text}\n`)
      render()
    },
  }
}

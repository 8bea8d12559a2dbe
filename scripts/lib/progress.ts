// A one-line progress display for the command line: redrawn in place on a terminal, at most
// every `everyMs`; nothing at all when the output is a file or a pipe (logs stay clean).
export interface ProgressLine {
  update: (rows: number, bytes: number) => void
  /** Ends the line (on a terminal) and returns the final summary. */
  done: (rows: number, bytes: number) => string
}

export function formatProgress (rows: number, bytes: number, elapsedMs: number): string {
  const seconds = Math.max(elapsedMs, 1) / 1000
  const rate = Math.round(rows / seconds)
  const mb = (bytes / 1024 / 1024).toFixed(1)
  return `${rows.toLocaleString('en')} rows  ${rate.toLocaleString('en')} rows/s  ${mb} MB  ${seconds.toFixed(1)} s`
}

export function progressLine (stream: NodeJS.WriteStream, everyMs = 200, now = () => performance.now()): ProgressLine {
  const started = now()
  let last = -Infinity
  const tty = stream.isTTY === true
  return {
    update (rows, bytes) {
      const t = now()
      if (!tty || t - last < everyMs) return
      last = t
      stream.write(`\r\x1b[2K${formatProgress(rows, bytes, t - started)}`)
    },
    done (rows, bytes) {
      const line = formatProgress(rows, bytes, now() - started)
      if (tty) stream.write('\r\x1b[2K')
      return line
    }
  }
}

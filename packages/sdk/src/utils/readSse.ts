/**
 * Reads a server-sent-events body and yields the `data` of each event (multi-line data joined
 * with `\n`); comments, `event:`, `id:` and `retry:` lines are skipped.
 *
 * @example
 * ```ts
 * for await (const data of readSse(body)) if (data !== '[DONE]') console.log(JSON.parse(data))
 * ```
 */
export async function* readSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder()
  let buffer = ''
  const eventsIn = function* (final: boolean): Generator<string> {
    const parts = buffer.split(/\r\n\r\n|\n\n|\r\r/)
    buffer = final ? '' : (parts.pop() ?? '')
    for (const part of parts) {
      const data = part
        .split(/\r\n|\n|\r/)
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(line.startsWith('data: ') ? 6 : 5))
      if (data.length > 0) yield data.join('\n')
    }
  }
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true })
    yield* eventsIn(false)
  }
  buffer += decoder.decode()
  yield* eventsIn(true)
}

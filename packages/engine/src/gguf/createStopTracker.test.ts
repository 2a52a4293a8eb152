import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createStopTracker } from './createStopTracker.ts'

function feed(stop: string[], pieces: string[]) {
  const tracker = createStopTracker(stop)
  const released: string[] = []
  for (const piece of pieces) {
    const { release, stopped } = tracker.push(piece)
    released.push(release)
    if (stopped) return { released, text: tracker.text, stopped }
  }
  released.push(tracker.finish())
  return { released, text: tracker.text, stopped: tracker.stopped }
}

test('default', () => {
  // No stop strings: every piece is final at once.
  assert.deepEqual(feed([], ['Once', ' upon', ' a time']), {
    released: ['Once', ' upon', ' a time', ''],
    text: 'Once upon a time',
    stopped: false,
  })
})

test('behavior: a stop string spanning pieces ends the text before it; nothing released is taken back', () => {
  const result = feed(['END'], ['Hello E', 'N', 'D and more'])
  assert.deepEqual(result, { released: ['Hello ', '', ''], text: 'Hello ', stopped: true })
  // A tail that stops matching is released with the next piece.
  assert.deepEqual(feed(['END'], ['Hello E', 'X', '!']), {
    released: ['Hello ', 'EX', '!', ''],
    text: 'Hello EX!',
    stopped: false,
  })
})

test('behavior: the earliest of several stop strings wins; held text is released at the end', () => {
  assert.deepEqual(feed(['ball', 'big'], ['she saw a big, red ball']).text, 'she saw a ')
  assert.deepEqual(feed(['\n\n'], ['line one\n']), {
    released: ['line one', '\n'],
    text: 'line one\n',
    stopped: false,
  })
  // Pushing after a stop changes nothing.
  const tracker = createStopTracker(['x'])
  tracker.push('abxcd')
  assert.deepEqual(tracker.push('more'), { release: '', stopped: true })
  assert.equal(tracker.text, 'ab')
  assert.equal(tracker.finish(), '')
})

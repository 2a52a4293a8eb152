// Preloaded (`node --import …/exitWithParent.ts main.ts …`) into every node process the devnet
// starts: the devnet holds the write end of the child's stdin, so end-of-file on stdin means the
// devnet is gone (even after SIGKILL). The child then stops itself the orderly way (SIGTERM: the
// node drains and exits), so no node outlives its devnet. stdin is unref'd: it never keeps the
// process alive on its own.
//
// Worker threads inherit `--import`, and a worker's `process.stdin` ends at once: only the main
// thread watches stdin (otherwise the first worker, e.g. the zk prover's, would stop the node).
import { isMainThread } from 'node:worker_threads'

if (isMainThread) {
  const stopSelf = () => {
    process.kill(process.pid, 'SIGTERM')
  }
  process.stdin.once('end', stopSelf)
  process.stdin.once('error', stopSelf)
  process.stdin.resume()
  ;(process.stdin as { unref?: () => void }).unref?.()
}

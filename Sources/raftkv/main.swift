import NIOCore
import NIOPosix

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// Swift concurrency's tasks run on NIO's event loops, the threads that also serve HTTP and the
// Raft connections, so that a request or a Raft message reaching a node's task does not wake
// another thread first (see "Latency" in WebRaftNIO's documentation). Set RAFTKV_NIO_EXECUTOR=0
// to keep Swift's default executor.
if getenv("RAFTKV_NIO_EXECUTOR").map({ String(cString: $0) }) != "0" {
  _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
}
/// Runs the command line; inside an `async` function `main` resolves to the asynchronous entry
/// point, which runs the asynchronous subcommands (top-level code would pick the synchronous one).
func runCommandLine() async {
  await RaftKVCommand.main(nil)
}
await runCommandLine()

import CGlibcLinux
import Glibc

/// A system call that failed: which one, its errno and, where a file was involved, the path.
struct SystemError: Error, CustomStringConvertible, Equatable {
  let operation: String
  let errno: Int32
  var path: String? = nil

  var description: String {
    let what = path.map { "\(operation) \($0)" } ?? operation
    return "\(what): \(String(cString: strerror(errno)))"
  }

  /// The errno's text, lower case as in "connection refused".
  var reason: String {
    let text = String(cString: strerror(errno))
    return text.prefix(1).lowercased() + text.dropFirst()
  }
}

/// Runs a call that returns -1 and sets errno on failure. errno is read before anything else
/// can run (see swift-nio's System.swift); EINTR is retried. Never wrap `close` in this: Linux
/// releases the descriptor even when close reports EINTR, so a retry could close another one.
@inline(__always)
func retryingEINTR<T: FixedWidthInteger>(
  _ operation: String, path: String? = nil, _ body: () -> T
) throws(SystemError) -> T {
  while true {
    let result = body()
    if result != -1 { return result }
    let code = cglibc_errno()
    if code == EINTR { continue }
    throw SystemError(operation: operation, errno: code, path: path)
  }
}

/// For the posix_spawn family, which return the error number instead of setting errno.
@inline(__always)
func checkReturnedError(_ operation: String, _ result: Int32) throws(SystemError) {
  if result != 0 { throw SystemError(operation: operation, errno: result) }
}

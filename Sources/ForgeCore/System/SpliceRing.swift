import CGlibcLinux
import Glibc

/// The bytes on their way to one `forge logs -f` client, handed to its pipe by reference
/// (`vmsplice`) instead of copied into a socket: forge's cost per byte of a follower drops to
/// the one copy into this ring (a socket write cost four times that, measured).
///
/// A byte handed over is still this ring's memory until the client reads it, so the ring never
/// writes over a byte the pipe may still hold: how far the client has read is what was handed
/// over less what the pipe still has unread (FIONREAD), asked once per hand-over. Until asked
/// again the ring counts conservatively (less room, never more). Its memory is a mapping of
/// its own, not malloc's: once unmapped, the pages a pipe still holds stay alive for the
/// client, and no other data of forge is ever written into them.
final class SpliceRing {
  /// A power of two: positions wrap with a mask.
  let capacity: Int
  private let base: UnsafeMutableRawPointer
  /// Absolute positions: the client has read everything before `read`, the pipe was given
  /// everything before `handed`, and the next byte goes at `end`.
  private var read = 0
  private var handed = 0
  private var end = 0

  /// Nil when the memory cannot be mapped (the caller streams through the socket instead).
  /// `copying` starts it as if vmsplice had been refused (for tests).
  init?(capacity: Int, copying: Bool = false) {
    precondition(capacity > 0 && capacity & (capacity - 1) == 0)
    let mapped = mmap(nil, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    guard let mapped, mapped != MAP_FAILED else { return nil }
    self.capacity = capacity
    self.copying = copying
    base = mapped
  }

  deinit { munmap(base, capacity) }

  /// Bytes not yet handed to the pipe.
  var unsent: Int { end - handed }

  /// Bytes that may still be appended (the client's progress as last asked).
  var room: Int { capacity - (end - read) }

  /// Appends bytes that fit in `room`.
  func append(_ bytes: UnsafeRawBufferPointer) {
    guard let source = bytes.baseAddress, bytes.count > 0 else { return }
    precondition(bytes.count <= room)
    let offset = end & (capacity - 1)
    let first = min(bytes.count, capacity - offset)
    Memory.copy(base + offset, source, first)
    if first < bytes.count { Memory.copy(base, source + first, bytes.count - first) }
    end += bytes.count
  }

  func append(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { append($0) }
  }

  /// Where vmsplice is refused (a seccomp profile, a kernel without it), bytes are copied
  /// into the pipe with write(2) instead: slower, the same stream.
  private var copying = false

  /// Hands every unsent byte to `pipe`: true when all went, false when the pipe is full.
  func handOver(to pipe: FileDescriptor) throws(SystemError) -> Bool {
    defer { try? noteProgress(of: pipe) }  // the room the client made meanwhile counts at once
    try noteProgress(of: pipe)
    while unsent > 0 {
      let offset = handed & (capacity - 1)
      let first = min(unsent, capacity - offset)
      let n =
        copying
        ? Glibc.write(pipe.raw, base + offset, first)
        : cglibc_vmsplice(pipe.raw, base + offset, UInt(first), base, UInt(unsent - first))
      if n > 0 {
        handed += n
        continue
      }
      let code = n == 0 ? EAGAIN : cglibc_errno()
      if code == EINTR { continue }
      if code == EAGAIN { return false }
      guard !copying, code == ENOSYS || code == EPERM || code == EINVAL else {
        throw SystemError(operation: copying ? "write" : "vmsplice", errno: code)
      }
      copying = true
    }
    return true
  }

  /// How far the client has read: what was handed over less what the pipe holds unread.
  private func noteProgress(of pipe: FileDescriptor) throws(SystemError) {
    let unread = cglibc_unread_bytes(pipe.raw)
    guard unread >= 0 else { throw SystemError(operation: "ioctl FIONREAD", errno: cglibc_errno()) }
    read = max(read, handed - Int(unread))
  }
}
